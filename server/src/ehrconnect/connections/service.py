"""Connection lifecycle rules shared by the API: disconnect, and deleting a patient's data."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from ehrconnect.api.context import AppContext
from ehrconnect.connections import repository
from ehrconnect.errors import not_found
from ehrconnect.kit.time import utcnow
from ehrconnect.models import Connection, Job, Patient
from ehrconnect.patients import repository as patients_repo
from ehrconnect.worker.queue import sync_dedupe_key


def destroy_tokens(connection: Connection) -> None:
    connection.access_token_encrypted = None
    connection.refresh_token_encrypted = None
    connection.token_expires_at = None


async def disconnect(session: AsyncSession, ctx: AppContext, patient: Patient, connection_id: str) -> Connection:
    """Status `disconnected`, tokens destroyed, no further syncs."""
    connection = await repository.get_for_patient(session, patient.pk, connection_id)
    if connection is None:
        raise not_found("connection", "conn_id")
    destroy_tokens(connection)
    connection.status = "disconnected"
    connection.next_sync_at = None
    connection.updated_at = utcnow()
    await _cancel_jobs(session, [connection.id])
    return connection


async def delete_patient(session: AsyncSession, ctx: AppContext, patient: Patient) -> None:
    """Hard delete: patient, sessions, connections, tokens, stored records (FK cascades)."""
    connections = await repository.for_patient(session, patient.pk)
    for connection in connections:
        destroy_tokens(connection)
    await _cancel_jobs(session, [c.id for c in connections])
    await session.flush()
    await patients_repo.delete_patient(session, patient)


async def _cancel_jobs(session: AsyncSession, connection_ids: list[str]) -> None:
    if not connection_ids:
        return
    await session.execute(
        update(Job)
        .where(Job.status == "queued", Job.dedupe_key.in_([sync_dedupe_key(cid) for cid in connection_ids]))
        .values(status="failed", last_error="cancelled: connection disconnected", finished_at=utcnow())
    )
