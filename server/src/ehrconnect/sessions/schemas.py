"""Wire models for Connect Sessions."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field

from ehrconnect.api.schemas import Email, Metadata, PatientId, RequestModel, WireModel

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
#: What `check_return_url` accepts, for the OpenAPI document (clients and fuzzers).
RETURN_URL_PATTERN = r"^(https://[A-Za-z0-9.-]+|http://(localhost|127\.0\.0\.1|\[::1\]))(:[0-9]{1,5})?([/?#]\S*)?$"


def check_return_url(value: str) -> str:
    parts = urlsplit(value)
    if not parts.scheme or not parts.netloc or not parts.hostname:
        raise ValueError("return_url must be an absolute URL")
    if parts.scheme == "https":
        return value
    if parts.scheme == "http" and parts.hostname in LOCAL_HOSTS:
        return value
    raise ValueError("return_url must use https (http is allowed only for localhost and 127.0.0.1)")


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
