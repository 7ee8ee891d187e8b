"""Connection lifecycle rules shared by the API: disconnect, and deleting a patient's data."""

from __future__ import annotations

import logging

import httpx
from pydantic import SecretStr
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from ehrconnect.api.context import AppContext
from ehrconnect.connections import repository
from ehrconnect.errors import not_found
from ehrconnect.kit.time import utcnow
from ehrconnect.models import Connection, Job, Patient
from ehrconnect.patients import repository as patients_repo
from ehrconnect.worker.queue import sync_dedupe_key

logger = logging.getLogger("ehrconnect.connections")

#: Revocation is best effort on the request path: a slow EHR must not hold up a disconnect.
REVOCATION_TIMEOUT = httpx.Timeout(5.0, connect=3.0)


def destroy_tokens(connection: Connection) -> None:
    connection.access_token_encrypted = None
    connection.refresh_token_encrypted = None
    connection.token_expires_at = None


async def disconnect(session: AsyncSession, ctx: AppContext, patient: Patient, connection_id: str) -> Connection:
    """Status `disconnected`, tokens destroyed, no further syncs."""
    connection = await repository.get_for_patient(session, patient.pk, connection_id)
    if connection is None:
        raise not_found("connection", "conn_id")
    await revoke_upstream(session, ctx, connection)
    destroy_tokens(connection)
    connection.status = "disconnected"
    connection.next_sync_at = None
    connection.updated_at = utcnow()
    await _cancel_jobs(session, [connection.id])
    return connection


async def delete_patient(session: AsyncSession, ctx: AppContext, patient: Patient) -> None:
    """Hard delete: patient, sessions, connections, tokens, stored records (FK cascades)."""
    from ehrconnect.records.repository import delete_for_patient

    connections = await repository.for_patient(session, patient.pk)
    for connection in connections:
        await revoke_upstream(session, ctx, connection)
        destroy_tokens(connection)
    await _cancel_jobs(session, [c.id for c in connections])
    await session.flush()
    await delete_for_patient(session, patient.pk)
    await patients_repo.delete_patient(session, patient)


async def revoke_upstream(session: AsyncSession, ctx: AppContext, connection: Connection) -> bool:
    """Revoke the connection's tokens at the source (RFC 7009 §2.1) when it advertises a
    revocation endpoint. Best effort: failures are logged (never the tokens) and ignored, so a
    disconnect or deletion always proceeds. Returns True when every token was revoked."""
    from ehrconnect.connections.registrations import NoClientRegistration, registration_for_connection
    from ehrconnect.kit.crypto import DecryptionError
    from ehrconnect.smart import SmartConfiguration, revoke_tokens

    if not connection.revocation_endpoint or not (
        connection.access_token_encrypted or connection.refresh_token_encrypted
    ):
        return False
    try:
        client = await registration_for_connection(session, ctx, connection)
        access = ctx.cipher.decrypt(connection.access_token_encrypted) if connection.access_token_encrypted else None
        refresh = (
            ctx.cipher.decrypt(connection.refresh_token_encrypted) if connection.refresh_token_encrypted else None
        )
    except (NoClientRegistration, DecryptionError) as exc:
        logger.warning("token revocation skipped", extra={"connection_id": connection.id, "reason": type(exc).__name__})
        return False
    config = SmartConfiguration(
        fhir_base_url=connection.fhir_base_url, source="well-known",
        authorization_endpoint=connection.token_endpoint or connection.revocation_endpoint,
        token_endpoint=connection.token_endpoint or connection.revocation_endpoint,
        revocation_endpoint=connection.revocation_endpoint,
    )
    try:
        outcome = await revoke_tokens(
            ctx.http, config, client.to_smart(connection.revocation_endpoint),
            access_token=SecretStr(access) if access else None,
            refresh_token=SecretStr(refresh) if refresh else None,
            http_timeout=REVOCATION_TIMEOUT,
        )
    except Exception as exc:  # never block the disconnect on the EHR
        logger.warning("token revocation failed", extra={"connection_id": connection.id, "error": type(exc).__name__})
        return False
    if not outcome.complete:
        logger.warning(
            "token revocation incomplete", extra={"connection_id": connection.id, "errors": list(outcome.errors)}
        )
    else:
        logger.info("tokens revoked upstream", extra={"connection_id": connection.id})
    return outcome.complete


async def _cancel_jobs(session: AsyncSession, connection_ids: list[str]) -> None:
    if not connection_ids:
        return
    await session.execute(
        update(Job)
        .where(Job.status == "queued", Job.dedupe_key.in_([sync_dedupe_key(cid) for cid in connection_ids]))
        .values(status="failed", last_error="cancelled: connection disconnected", finished_at=utcnow())
    )
