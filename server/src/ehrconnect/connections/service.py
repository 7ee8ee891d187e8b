"""Connection lifecycle rules shared by the API: disconnect, and deleting a patient's data.

Upstream token revocation is split in two: :func:`prepare_revocation` inside the transaction
(decrypts, then the stored tokens are destroyed) and :func:`revoke_pending` after commit, so a
slow EHR never holds a database lock."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

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
from ehrconnect.smart import ClientRegistration, SmartConfiguration, revoke_tokens
from ehrconnect.worker.queue import sync_dedupe_key

logger = logging.getLogger("ehrconnect.connections")

#: Revocation is best effort on the request path: a slow EHR must not hold up a disconnect.
REVOCATION_TIMEOUT = httpx.Timeout(5.0, connect=3.0)
#: Connections revoked at once when a patient with several connections is deleted.
REVOCATION_CONCURRENCY = 4
#: Upper bound on the whole post-commit revocation step of one request (two calls per connection).
REVOCATION_DEADLINE_SECONDS = 12.0


def destroy_tokens(connection: Connection) -> None:
    connection.access_token_encrypted = None
    connection.refresh_token_encrypted = None
    connection.token_expires_at = None


@dataclass(frozen=True, repr=False)
class PendingRevocation:
    """What revoking one connection's tokens needs, captured inside the transaction that destroys
    the stored tokens. The tokens live only in memory from then on; never logged (no repr)."""

    connection_id: str
    config: SmartConfiguration
    client: ClientRegistration
    access_token: SecretStr | None
    refresh_token: SecretStr | None


async def require_connection(session: AsyncSession, patient: Patient, connection_id: str) -> Connection:
    """One of the patient's connections, or 404 ``resource_not_found`` (param ``conn_id``)."""
    connection = await repository.get_for_patient(session, patient.pk, connection_id)
    if connection is None:
        raise not_found("connection", "conn_id")
    return connection


def stored_smart_configuration(connection: Connection) -> SmartConfiguration | None:
    """The SMART endpoints recorded on the connection at launch, without discovery.

    None when neither a token nor a revocation endpoint was stored. Only the token and
    revocation endpoints are meaningful here (the authorization endpoint is never used after
    launch, so it mirrors the token endpoint)."""
    endpoint = connection.token_endpoint or connection.revocation_endpoint
    if not endpoint:
        return None
    return SmartConfiguration(
        fhir_base_url=connection.fhir_base_url, source="well-known",
        authorization_endpoint=endpoint, token_endpoint=endpoint,
        revocation_endpoint=connection.revocation_endpoint,
    )


async def disconnect(
    session: AsyncSession, ctx: AppContext, patient: Patient, connection_id: str
) -> list[PendingRevocation]:
    """Status `disconnected`, tokens destroyed, no further syncs.

    Returns the upstream revocation to run with :func:`revoke_pending` AFTER the transaction
    commits: the EHR is never called while the transaction (SQLite: the database write lock) is held.
    """
    connection = await require_connection(session, patient, connection_id)
    pending = await prepare_revocation(session, ctx, connection)
    destroy_tokens(connection)
    connection.status = "disconnected"
    connection.next_sync_at = None
    connection.updated_at = utcnow()
    await _cancel_jobs(session, [connection.id])
    return [pending] if pending is not None else []


async def delete_patient(session: AsyncSession, ctx: AppContext, patient: Patient) -> list[PendingRevocation]:
    """Hard delete: patient, sessions, connections, tokens, stored records (FK cascades).

    Returns the upstream revocations to run with :func:`revoke_pending` after commit.
    """
    from ehrconnect.records.repository import delete_for_patient

    connections = await repository.for_patient(session, patient.pk)
    pending: list[PendingRevocation] = []
    for connection in connections:
        prepared = await prepare_revocation(session, ctx, connection)
        if prepared is not None:
            pending.append(prepared)
        destroy_tokens(connection)
    await _cancel_jobs(session, [c.id for c in connections])
    await session.flush()
    await delete_for_patient(session, patient.pk)
    await patients_repo.delete_patient(session, patient)
    return pending


async def prepare_revocation(
    session: AsyncSession, ctx: AppContext, connection: Connection
) -> PendingRevocation | None:
    """Decrypt what revoking ``connection``'s tokens needs (database reads only, no network).

    None when the source advertises no revocation endpoint, there is no token, or the client or
    tokens cannot be resolved (logged without secrets)."""
    from ehrconnect.connections.registrations import (
        ClientSecretNotAllowed,
        NoClientRegistration,
        registration_for_connection,
    )
    from ehrconnect.kit.crypto import DecryptionError

    if not connection.revocation_endpoint or not (
        connection.access_token_encrypted or connection.refresh_token_encrypted
    ):
        return None
    try:
        resolved = await registration_for_connection(session, ctx, connection)
        client = resolved.to_smart(connection.revocation_endpoint)
        access = ctx.cipher.decrypt(connection.access_token_encrypted) if connection.access_token_encrypted else None
        refresh = (
            ctx.cipher.decrypt(connection.refresh_token_encrypted) if connection.refresh_token_encrypted else None
        )
    except (NoClientRegistration, ClientSecretNotAllowed, DecryptionError) as exc:
        logger.warning("token revocation skipped", extra={"connection_id": connection.id, "reason": type(exc).__name__})
        return None
    config = stored_smart_configuration(connection)
    assert config is not None  # a revocation endpoint is stored
    return PendingRevocation(
        connection_id=connection.id, config=config, client=client,
        access_token=SecretStr(access) if access else None,
        refresh_token=SecretStr(refresh) if refresh else None,
    )


async def perform_revocation(ctx: AppContext, pending: PendingRevocation) -> bool:
    """Revoke at the source (RFC 7009 §2.1). Best effort: failures are logged (never the tokens)
    and ignored. Returns True when every token was revoked. Call outside any transaction."""
    try:
        outcome = await revoke_tokens(
            ctx.http, pending.config, pending.client,
            access_token=pending.access_token, refresh_token=pending.refresh_token,
            http_timeout=REVOCATION_TIMEOUT,
        )
    except Exception as exc:  # never fail the disconnect on the EHR
        logger.warning("token revocation failed", extra={"connection_id": pending.connection_id,
                                                        "error": type(exc).__name__})
        return False
    if not outcome.complete:
        logger.warning(
            "token revocation incomplete",
            extra={"connection_id": pending.connection_id, "errors": list(outcome.errors)},
        )
    else:
        logger.info("tokens revoked upstream", extra={"connection_id": pending.connection_id})
    return outcome.complete


async def revoke_pending(ctx: AppContext, pending: Sequence[PendingRevocation]) -> None:
    """Run revocations concurrently (at most :data:`REVOCATION_CONCURRENCY` at once) within
    :data:`REVOCATION_DEADLINE_SECONDS` in total; whatever is unfinished then is abandoned
    (logged). Must run after the transaction that destroyed the tokens has committed."""
    if not pending:
        return
    limit = asyncio.Semaphore(REVOCATION_CONCURRENCY)

    async def one(item: PendingRevocation) -> None:
        async with limit:
            await perform_revocation(ctx, item)

    try:
        async with asyncio.timeout(REVOCATION_DEADLINE_SECONDS):
            await asyncio.gather(*(one(item) for item in pending))
    except TimeoutError:
        logger.warning("token revocation abandoned at the deadline", extra={"connections": len(pending)})


async def revoke_upstream(session: AsyncSession, ctx: AppContext, connection: Connection) -> bool:
    """Prepare and perform one connection's revocation. Calls the EHR: never use it inside a
    transaction that writes (use :func:`prepare_revocation` + :func:`revoke_pending`)."""
    pending = await prepare_revocation(session, ctx, connection)
    return await perform_revocation(ctx, pending) if pending is not None else False


async def _cancel_jobs(session: AsyncSession, connection_ids: list[str]) -> None:
    if not connection_ids:
        return
    await session.execute(
        update(Job)
        .where(Job.status == "queued", Job.dedupe_key.in_([sync_dedupe_key(cid) for cid in connection_ids]))
        .values(status="failed", last_error="cancelled: connection disconnected", finished_at=utcnow())
    )
