"""Enqueueing jobs inside the caller's transaction (so a job exists iff its cause committed)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ehrconnect.kit.ids import new_id
from ehrconnect.kit.time import utcnow
from ehrconnect.models import Job

SYNC_CONNECTION = "sync_connection"


def sync_dedupe_key(connection_id: str) -> str:
    return f"sync:{connection_id}"


async def enqueue(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any],
    *,
    dedupe_key: str | None = None,
    run_at: datetime | None = None,
    max_attempts: int = 8,
) -> Job:
    """Add a job in the caller's transaction. With `dedupe_key`, an already queued or running
    job with that key is returned instead of adding a second one."""
    if dedupe_key is not None:
        existing = (
            await session.execute(
                select(Job).where(Job.dedupe_key == dedupe_key, Job.status.in_(("queued", "running")))
            )
        ).scalar_one_or_none()
        if existing is not None:
            return existing
    job = Job(
        id=new_id("job"),
        kind=kind,
        payload=payload,
        dedupe_key=dedupe_key,
        status="queued",
        run_at=run_at or utcnow(),
        max_attempts=max_attempts,
    )
    session.add(job)
    await session.flush()
    return job


async def enqueue_sync(session: AsyncSession, connection_id: str, *, run_at: datetime | None = None) -> Job:
    """The background pull for one connection (at most one queued or running per connection)."""
    return await enqueue(
        session, SYNC_CONNECTION, {"connection_id": connection_id},
        dedupe_key=sync_dedupe_key(connection_id), run_at=run_at,
    )
