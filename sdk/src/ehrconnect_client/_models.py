"""Typed views of every API object.

All models accept fields they do not know (``extra="allow"``) so a newer server never breaks
an older SDK; unknown fields stay readable as attributes and in ``model_dump()``. Timestamps
are parsed into timezone-aware :class:`datetime.datetime`. Status values are plain strings
(known values listed in each docstring) for the same forward-compatibility reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, PrivateAttr

from ._pagination import ListPage
from ._response import ResponseInfo

__all__ = [
    "DeletedPatient",
    "DisconnectedConnection",
    "EhrconnectObject",
    "FhirSource",
    "Health",
    "Patient",
    "PatientConnection",
    "PatientDetail",
    "Record",
    "RecordsPage",
    "ResponseInfo",
    "Session",
    "SessionConnection",
    "SyncRequested",
    "SyncRun",
]


class EhrconnectObject(BaseModel):
    """Base of every API object: tolerant of new fields, remembers its response."""

    model_config = ConfigDict(extra="allow")

    _response: ResponseInfo | None = PrivateAttr(default=None)

    @property
    def last_response(self) -> ResponseInfo | None:
        """Request id, API version and replay flag of the response (``None`` if built by hand)."""
        return self._response


class Health(EhrconnectObject):
    """``GET /health``: ``ok`` is always true when the server answers."""

    ok: bool
    server_time: datetime


class Patient(EhrconnectObject):
    """A patient, identified by the caller's own ``patient_id`` (returned as ``id``)."""

    id: str
    resource_type: str = "patient"
    email: str | None = None
    name: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime


class PatientConnection(EhrconnectObject):
    """A patient's link to one EHR source.

    ``id`` is the ``conn_`` id; ``connection_id`` is the ``fhirsrc_`` id of the EHR (naming
    inherited from the Medblocks API). ``status`` is one of ``active``, ``failed``, ``expired``,
    ``refresh_failed``, ``disconnected``. ``session_id`` also accepts the upstream
    ``patient_session_id`` spelling.
    """

    id: str
    resource_type: str = "connection"
    session_id: str | None = Field(default=None, validation_alias=AliasChoices("session_id", "patient_session_id"))
    connection_id: str
    status: str
    scopes: list[str] = Field(default_factory=list)
    failure_code: str | None = None
    failure_at: datetime | None = None
    created_at: datetime
    updated_at: datetime | None = None
    last_synced_at: datetime | None = None
    sync_status: str | None = None


class PatientDetail(Patient):
    """``GET /patients/{id}``: the patient plus every connection, newest first (failures included)."""

    connections: list[PatientConnection] = Field(default_factory=list)


class SessionConnection(EhrconnectObject):
    """One authorization attempt inside a session; ``id`` is ``None`` for a failed attempt."""

    id: str | None = None
    connection_id: str
    status: str
    failure_code: str | None = None
    failure_at: datetime | None = None
    created_at: datetime


class Session(EhrconnectObject):
    """A Connect Session. ``status``: ``open``, ``complete`` or ``expired``.

    ``complete`` means the browser flow ended, not that access was granted: look for an
    ``active`` entry in ``connections`` (see :func:`ehrconnect_client.active_connections`).
    """

    id: str
    resource_type: str = "session"
    status: str
    url: str
    patient_id: str
    connection_id: str | None = None
    recommended_connection_ids: list[str] | None = None
    return_url: str
    return_button_label: str | None = None
    connections: list[SessionConnection] = Field(default_factory=list)
    expires_at: datetime
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime


class FhirSource(EhrconnectObject):
    """A catalog entry: an EHR's FHIR endpoint (``fhirsrc_`` id)."""

    id: str
    resource_type: str = "fhir_source"
    name: str
    type: str | None = None
    fhir_base_url: str
    logo_url: str | None = None
    portal_url: str | None = None
    #: ehrconnect extension: on a ``q`` search, the catalog name or alias that matched.
    matched_name: str | None = None


class Record(EhrconnectObject):
    """One stored FHIR resource: the untouched ``resource`` and the ``fhirsrc_`` it came from."""

    source: str | None = None
    resource: dict[str, Any]

    @property
    def fhir_type(self) -> str | None:
        """The FHIR ``resourceType`` of the record (e.g. ``"Observation"``)."""
        value = self.resource.get("resourceType")
        return value if isinstance(value, str) else None


class RecordsPage(ListPage[Record]):
    """``GET /patients/{id}/records``: a list page plus ``patient_id`` and ``previous_cursor``.

    Auto-paging moves forward through ``next_cursor``; to step backwards pass
    ``previous_cursor`` as ``ending_before``.
    """

    patient_id: str | None = None
    previous_cursor: str | None = None


class DeletedPatient(EhrconnectObject):
    """Tombstone of ``DELETE /patients/{id}``."""

    id: str
    resource_type: str = "patient"
    deleted: bool = True


class DisconnectedConnection(EhrconnectObject):
    """Tombstone of ``DELETE /patients/{id}/connections/{conn_id}``."""

    id: str
    resource_type: str = "connection"
    disconnected: bool = True


class SyncRun(EhrconnectObject):
    """One background record pull for a connection (ehrconnect extension).

    Deliberately loose: every field but ``id`` is optional so the model survives the server
    team refining the report. ``status`` is ``running``, ``succeeded`` or ``failed``; ``mode``
    ``full`` or ``incremental``; ``counts`` maps FHIR resource types to numbers stored.
    """

    id: str
    resource_type: str = "sync_run"
    connection_id: str | None = None
    status: str | None = None
    mode: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: int | None = None
    counts: dict[str, int] = Field(default_factory=dict)
    #: Resources removed because the source no longer returned them (full pulls), by type.
    deleted: dict[str, int] = Field(default_factory=dict)
    errors: list[Any] = Field(default_factory=list)


class SyncRequested(EhrconnectObject):
    """Answer of ``POST /patients/{id}/connections/{conn_id}/sync`` (ehrconnect extension)."""

    id: str
    resource_type: str = "connection"
    sync_requested: bool = True
