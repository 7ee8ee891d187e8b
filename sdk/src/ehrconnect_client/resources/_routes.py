"""Routes of the API: each builder returns the concrete path and its template together.

Shared by the sync and async resources. Templates use ``{id}`` placeholders like the server's
access log, so a log line never contains a patient id (which may be an email).
"""

from __future__ import annotations

from .._base import Route, encode_segment

PATIENTS = Route.static("/patients")
SESSIONS = Route.static("/sessions")
CONNECTIONS = Route.static("/connections")


def patient(patient_id: str, suffix: str = "") -> Route:
    """``/patients/{id}`` plus an optional fixed ``suffix`` (``/records``, ``/sessions``)."""
    segment = encode_segment(patient_id, name="patient_id")
    return Route(template="/patients/{id}" + suffix, path=f"/patients/{segment}{suffix}")


def patient_connection(patient_id: str, connection_id: str, suffix: str = "") -> Route:
    """``/patients/{id}/connections/{conn_id}`` plus an optional fixed ``suffix``."""
    base = patient(patient_id, "/connections/")
    segment = encode_segment(connection_id, name="connection_id")
    return Route(template=base.template + "{conn_id}" + suffix, path=base.path + segment + suffix)


def session(session_id: str) -> Route:
    """``/sessions/{id}``."""
    return Route(template="/sessions/{id}", path="/sessions/" + encode_segment(session_id, name="session_id"))


def source(source_id: str) -> Route:
    """``/connections/{id}``: a ``fhirsrc_`` id, or a ``fhir_base_url`` percent-encoded whole
    (``/`` and ``:`` included) so it stays a single path segment."""
    segment = encode_segment(source_id, name="connection id or fhir_base_url")
    return Route(template="/connections/{id}", path="/connections/" + segment)
