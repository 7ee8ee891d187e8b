"""Connection rows -> the two wire shapes (patient-level and session-level items)."""

from __future__ import annotations

from ehrconnect.kit.time import iso
from ehrconnect.models import Connection
from ehrconnect.patients.schemas import PatientConnectionOut
from ehrconnect.sessions.schemas import SessionConnectionOut


def patient_connection(row: Connection) -> PatientConnectionOut:
    return PatientConnectionOut(
        id=row.id,
        session_id=row.session_id,
        connection_id=row.source_id,
        status=row.status,
        scopes=list(row.scopes or []),
        failure_code=row.failure_code,
        failure_at=iso(row.failure_at),
        created_at=iso(row.created_at) or "",
        updated_at=iso(row.updated_at) or "",
        last_synced_at=iso(row.last_synced_at),
        sync_status=row.sync_status,
    )


def session_connection(row: Connection) -> SessionConnectionOut:
    """Inside a session a failed attempt has no connection id (upstream contract)."""
    return SessionConnectionOut(
        id=None if row.status == "failed" else row.id,
        connection_id=row.source_id,
        status=row.status,
        failure_code=row.failure_code,
        failure_at=iso(row.failure_at),
        created_at=iso(row.created_at) or "",
    )
