"""The periodic scheduler: due syncs, token expiry, and sweeping stale rows.

Every worker process runs :func:`tick` every few tens of seconds; ticks in several processes
are safe together (row locks with SKIP LOCKED on PostgreSQL, the single writer on SQLite, and
the queue's dedupe key).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from ehrconnect.api.context import AppContext
from ehrconnect.connections.service import destroy_tokens
from ehrconnect.kit.time import utcnow
from ehrconnect.models import Connection, ConnectSession, IdempotencyRecord, Job, OAuthState
from ehrconnect.worker.queue import enqueue_sync
from ehrconnect.worker.tokens import EXPIRED_CODE

logger = logging.getLogger("ehrconnect.worker.scheduler")

#: Finished jobs are kept this long for inspection.
JOB_RETENTION = timedelta(days=7)
BATCH = 500


@dataclass
class TickReport:
    """What one tick did (for logs and tests)."""

    syncs_enqueued: int = 0
    connections_expired: int = 0
    sessions_expired: int = 0
    oauth_states_deleted: int = 0
    idempotency_deleted: int = 0
    jobs_deleted: int = 0


async def tick(ctx: AppContext, now: datetime | None = None) -> TickReport:
    """One scheduler pass."""
    now = now or utcnow()
    report = TickReport()
    report.syncs_enqueued = await enqueue_due_syncs(ctx, now)
    report.connections_expired = await expire_offline_connections(ctx, now)
    async with ctx.db.session() as session:
        result = await session.execute(
            update(ConnectSession)
            .where(ConnectSession.status == "open", ConnectSession.expires_at < now)
            .values(status="expired", updated_at=now)
            .execution_options(synchronize_session=False)
        )
        report.sessions_expired = _count(result)
        result = await session.execute(delete(OAuthState).where(OAuthState.expires_at < now))
        report.oauth_states_deleted = _count(result)
        result = await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at < now))
        report.idempotency_deleted = _count(result)
        result = await session.execute(
            delete(Job).where(Job.status.in_(("done", "failed")), Job.finished_at < now - JOB_RETENTION)
        )
        report.jobs_deleted = _count(result)
    if any(vars(report).values()):
        logger.info("scheduler tick", extra=vars(report))
    return report


async def enqueue_due_syncs(ctx: AppContext, now: datetime) -> int:
    """Queue a sync for every active connection whose `next_sync_at` has come."""
    enqueued = 0
    while True:
        async with ctx.db.session() as session:
            due = list(
                (
                    await session.execute(
                        select(Connection)
                        .where(Connection.status == "active", Connection.next_sync_at <= now)
                        .order_by(Connection.next_sync_at)
                        .limit(BATCH)
                        .with_for_update(skip_locked=True)
                    )
                ).scalars()
            )
            for conn in due:
                await enqueue_sync(session, conn.id)  # race-safe: a concurrent one is reused
                # Cleared until the run finishes and sets the next time.
                conn.next_sync_at = None
                enqueued += 1
        if len(due) < BATCH:
            return enqueued


async def expire_offline_connections(ctx: AppContext, now: datetime) -> int:
    """Connections without a refresh token become `expired` once their access token ends."""
    async with ctx.db.session() as session:
        rows = list(
            (
                await session.execute(
                    select(Connection)
                    .where(
                        Connection.status == "active",
                        Connection.refresh_token_encrypted.is_(None),
                        Connection.token_expires_at < now,
                    )
                    .limit(BATCH)
                    .with_for_update(skip_locked=True)
                )
            ).scalars()
        )
        for conn in rows:
            conn.status = "expired"
            conn.failure_code = EXPIRED_CODE
            conn.failure_at = now
            conn.failure_detail = "access token expired and no refresh token was granted"
            conn.next_sync_at = None
            conn.updated_at = now
            destroy_tokens(conn)
        return len(rows)


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
