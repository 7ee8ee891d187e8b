"""The return to the integrating app (api-decisions.md, "The return to the app").

Existing query parameters of ``return_url`` are kept verbatim; ours are appended.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit, urlunsplit

from ehrconnect.connections.launch import FAILURE_DESCRIPTIONS


def with_params(return_url: str, params: list[tuple[str, str]]) -> str:
    """``return_url`` with ``params`` appended to its query (fragment kept at the end)."""
    parts = urlsplit(return_url)
    extra = urlencode(params)
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def picker_done(return_url: str, session_id: str, patient_id: str) -> str:
    """Picker Mode, Done clicked: ``session_id`` and ``patient_id``."""
    return with_params(return_url, [("session_id", session_id), ("patient_id", patient_id)])


def direct_success(return_url: str, session_id: str, patient_id: str, source_id: str) -> str:
    """Direct Mode success: ``success=true`` and the ``fhirsrc_`` id as ``connection_id``."""
    return with_params(
        return_url,
        [("session_id", session_id), ("patient_id", patient_id), ("success", "true"), ("connection_id", source_id)],
    )


def direct_failure(return_url: str, session_id: str, patient_id: str, error: str) -> str:
    """Direct Mode failure: ``success=false``, ``error`` code and a human ``error_description``."""
    return with_params(
        return_url,
        [
            ("session_id", session_id),
            ("patient_id", patient_id),
            ("success", "false"),
            ("error", error),
            ("error_description", FAILURE_DESCRIPTIONS.get(error, "The connection could not be completed.")),
        ],
    )
