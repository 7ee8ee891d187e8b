"""Reading the query string the platform appends to ``return_url``.

The parameters are a **hint**, not proof: anyone can craft a URL with ``success=true``. Use them
to know which session to look up, then confirm with ``client.sessions.retrieve(session_id)``
(an ``active`` connection is the real success signal; see :func:`active_connections`).

Shapes (wire contract, "The return to the app"), appended after the app's own parameters:

* picker, Done clicked: ``session_id & patient_id``
* direct, success: ``session_id & patient_id & success=true & connection_id=<fhirsrc_>``
* direct, failure: ``session_id & patient_id & success=false & error=<code> & error_description``

The upstream Medblocks spelling ``patient_session_id`` is accepted for ``session_id``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

from ._errors import ReturnURLError

__all__ = ["RETURN_ERROR_CODES", "ReturnParams", "parse_return_url"]

#: ``error`` values the platform sends on a failed direct-mode return (others may appear).
RETURN_ERROR_CODES = frozenset(
    {"user_denied", "oauth_callback_failed", "token_exchange_failed", "session_expired", "source_unavailable"}
)

_OURS = frozenset(
    {
        "session_id",
        "patient_session_id",
        "patient_id",
        "success",
        "connection_id",
        "error",
        "error_description",
    }
)


@dataclass(frozen=True)
class ReturnParams:
    """Typed return parameters. ``mode`` is ``"direct"`` when ``success`` is present.

    ``success`` is ``None`` in picker mode (the picker reports nothing about outcomes);
    ``extra_params`` keeps the app's own query parameters from its ``return_url``.
    """

    session_id: str
    mode: Literal["picker", "direct"]
    patient_id: str | None = None
    success: bool | None = None
    connection_id: str | None = None
    error: str | None = None
    error_description: str | None = None
    extra_params: dict[str, str] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        """True when a direct-mode return reports failure (``success=false``)."""
        return self.success is False


def _query_of(text: str) -> str:
    """The query part of an absolute URL, a path (``/back?...``, ``back?...``) or a bare query."""
    parts = urlsplit(text)
    if parts.scheme or parts.netloc or text.startswith("/"):
        return parts.query
    if text.startswith("?"):
        return text[1:].split("#", 1)[0]
    head, sep, tail = text.partition("?")
    if sep and "=" not in head and "&" not in head:
        return tail.split("#", 1)[0]  # a relative path such as "connected?session_id=..."
    return text.split("#", 1)[0]


def _last_values(url_or_params: str | Mapping[str, str]) -> dict[str, str]:
    if isinstance(url_or_params, Mapping):
        return {str(k): str(v) for k, v in url_or_params.items()}
    values: dict[str, str] = {}
    # The platform appends its parameters after the app's, so on a repeated name the last wins.
    for key, value in parse_qsl(_query_of(url_or_params.strip()), keep_blank_values=True):
        values[key] = value
    return values


def parse_return_url(url_or_params: str | Mapping[str, str]) -> ReturnParams:
    """Parse the URL the patient came back on (or its query string, or a mapping of parameters).

    Raises :class:`ReturnURLError` when there is no session id or ``success`` is neither
    ``"true"`` nor ``"false"``.
    """
    values = _last_values(url_or_params)
    session_id = values.get("session_id") or values.get("patient_session_id")
    if not session_id:
        raise ReturnURLError("no session_id in the return URL")
    raw_success = values.get("success")
    success: bool | None
    if raw_success is None:
        success = None
    elif raw_success.lower() in ("true", "false"):
        success = raw_success.lower() == "true"
    else:
        raise ReturnURLError("success must be 'true' or 'false'")
    return ReturnParams(
        session_id=session_id,
        mode="picker" if success is None else "direct",
        patient_id=values.get("patient_id") or None,
        success=success,
        connection_id=values.get("connection_id") or None,
        error=values.get("error") or None,
        error_description=values.get("error_description") or None,
        extra_params={k: v for k, v in values.items() if k not in _OURS},
    )
