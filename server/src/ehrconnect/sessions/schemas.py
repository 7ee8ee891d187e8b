"""Wire models for Connect Sessions."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from ehrconnect.api.schemas import Email, Metadata, PatientId, RequestModel, WireModel

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_PORT = r"(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
#: Printable ASCII except space, quotes, backslash, `;`, `,`, `<`, `>` and backtick: nothing that can
#: end a header value or a CSP directive, and nothing browsers and Python parse differently.
_URL_CHARS = r"[!#-&(-+\--:=?-\[\]-_a-~]"
#: What `check_return_url` accepts, for the OpenAPI document (clients and fuzzers).
RETURN_URL_PATTERN = (
    rf"^(https://{_LABEL}(\.{_LABEL})*|http://(localhost|127\.0\.0\.1|\[::1\]))(:{_PORT})?"
    rf"([/?#]{_URL_CHARS}*)?$"
)
_RETURN_URL = re.compile(RETURN_URL_PATTERN)


def check_return_url(value: str) -> str:
    """Accept only a plain absolute URL whose authority is exactly ``host[:port]``.

    Strict on purpose: the return URL's origin goes into the hosted pages' CSP ``form-action``
    and the URL into a ``Location`` header, so separators (``;``, ``,``), whitespace, control
    characters and quotes are refused; backslashes and userinfo are refused because browsers
    and Python's ``urlsplit`` disagree on the host of ``https://evil.example\\@good.example``
    (WHATWG URL treats ``\\`` as ``/`` for special schemes, RFC 3986 does not).
    """
    if not _RETURN_URL.fullmatch(value):  # fullmatch: `$` alone would allow a trailing newline
        raise ValueError(
            "return_url must be an absolute https URL (http only for localhost and 127.0.0.1) with a plain "
            "host[:port], no credentials, and no spaces, quotes, backslashes, ';' or ','"
        )
    return value


class SessionCreate(RequestModel):
    patient_id: PatientId
    return_url: Annotated[
        str,
        Field(
            min_length=1, max_length=2048,
            description="Absolute `https://` URL (`http://` only for localhost and 127.0.0.1).",
            json_schema_extra={"format": "uri", "pattern": RETURN_URL_PATTERN},
        ),
        AfterValidator(check_return_url),
    ]
    patient_email: Email | None = None
    patient_name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    connection_id: Annotated[str, Field(min_length=1, max_length=1000)] | None = Field(
        default=None, description="Direct Mode: a `fhirsrc_` id or a `fhir_base_url`."
    )
    recommended_connection_ids: (
        Annotated[list[Annotated[str, Field(min_length=1, max_length=1000)]], Field(max_length=50)] | None
    ) = Field(default=None, description="Picker Mode: sources listed first.")
    return_button_label: Annotated[str, Field(min_length=1, max_length=60)] | None = None
    expires_in: Annotated[int, Field(ge=60, le=86400)] = 1800
    metadata: Metadata = None


SessionStatus = Literal["open", "complete", "expired"]
ConnectionStatus = Literal["active", "failed", "expired", "refresh_failed", "disconnected"]


class SessionConnectionOut(WireModel):
    id: str | None
    connection_id: str
    status: ConnectionStatus
    failure_code: str | None
    failure_at: str | None
    created_at: str


class SessionOut(WireModel):
    id: str
    resource_type: Literal["session"] = "session"
    status: SessionStatus
    url: str
    patient_id: str
    connection_id: str | None
    recommended_connection_ids: list[str] | None
    return_url: str
    return_button_label: str | None
    connections: list[SessionConnectionOut]
    expires_at: str
    metadata: dict[str, Any]
    created_at: str
