"""Wire models for patients and their connections."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from ehrconnect.api.schemas import Email, Metadata, PatientId, RequestModel, WireModel

ConnectionStatus = Literal["active", "failed", "expired", "refresh_failed", "disconnected"]


class PatientCreate(RequestModel):
    patient_id: PatientId
    email: Email | None = None
    name: Annotated[str, Field(max_length=200)] | None = None
    metadata: Metadata = None


class PatientReplace(RequestModel):
    """PUT body: a full replace; omitted optional fields are cleared."""

    patient_id: PatientId
    email: Email | None = None
    name: Annotated[str, Field(max_length=200)] | None = None
    metadata: Metadata = None


class PatientOut(WireModel):
    id: str
    resource_type: Literal["patient"] = "patient"
    email: str | None
    name: str | None
    metadata: dict[str, Any]
    created_at: str


class PatientConnectionOut(WireModel):
    id: str
    resource_type: Literal["connection"] = "connection"
    session_id: str | None
    connection_id: str
    status: ConnectionStatus
    scopes: list[str]
    failure_code: str | None
    failure_at: str | None
    created_at: str
    updated_at: str
    last_synced_at: str | None
    sync_status: str | None


class PatientDetailOut(PatientOut):
    connections: list[PatientConnectionOut]


class PatientDeleted(WireModel):
    id: str
    resource_type: Literal["patient"] = "patient"
    deleted: Literal[True] = True


class ConnectionDisconnected(WireModel):
    id: str
    resource_type: Literal["connection"] = "connection"
    disconnected: Literal[True] = True
