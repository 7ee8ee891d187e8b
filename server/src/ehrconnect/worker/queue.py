"""Enqueueing jobs inside the caller's transaction (so a job exists iff its cause committed)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from ehrconnect.kit.ids import new_id
from ehrconnect.kit.time import utcnow
from ehrconnect.models import Job

SYNC_CONNECTION = "sync_connection"


def sync_dedupe_key(connection_id: str) -> str:
    return f"sync:{connection_id}"


#: Statuses covered by the partial unique index ``uq_jobs_active_dedupe_key``.
ACTIVE_STATUSES = ("queued", "running")
_ACTIVE_PREDICATE = "status IN ('queued', 'running')"  # the index's WHERE, verbatim for ON CONFLICT


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
    job with that key is returned instead of adding a second one.

    Safe under concurrency: the insert is ``INSERT … ON CONFLICT DO NOTHING`` against the partial
    unique index, so two transactions enqueueing the same key at once never raise; the loser
    (PostgreSQL waits for the winner to commit) gets the winner's job.
    """
    values: dict[str, Any] = {
        "id": new_id("job"), "kind": kind, "payload": payload, "dedupe_key": dedupe_key,
        "status": "queued", "run_at": run_at or utcnow(), "max_attempts": max_attempts,
    }
    if dedupe_key is None:
        job = Job(**values)
        session.add(job)
        await session.flush()
        return job
    for _ in range(3):
        existing = await _active_with_key(session, dedupe_key)
        if existing is not None:
            return existing
        insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        await session.execute(
            insert(Job).values(**values).on_conflict_do_nothing(
                index_elements=[Job.dedupe_key], index_where=text(_ACTIVE_PREDICATE)
            )
        )
        # Inserted, or a concurrent transaction's job won the key: either way it is there now,
        # unless that job finished in between (then try again).
    existing = await _active_with_key(session, dedupe_key)
    if existing is None:
        raise RuntimeError(f"could not enqueue a job with dedupe key {dedupe_key!r}")
    return existing


async def _active_with_key(session: AsyncSession, dedupe_key: str) -> Job | None:
    found: Job | None = (
        await session.execute(
            select(Job)
            .where(Job.dedupe_key == dedupe_key, Job.status.in_(ACTIVE_STATUSES))
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    return found


async def enqueue_sync(session: AsyncSession, connection_id: str, *, run_at: datetime | None = None) -> Job:
    """The background pull for one connection (at most one queued or running per connection)."""
    return await enqueue(
        session, SYNC_CONNECTION, {"connection_id": connection_id},
        dedupe_key=sync_dedupe_key(connection_id), run_at=run_at,
    )


# --- claiming and finishing (used by ehrconnect.worker.runner) ---------------------------------


@dataclass(frozen=True)
class ClaimedJob:
    """A job this worker holds a lease on. `attempts` already counts this execution."""

    id: str
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    owner: str


def _claimable(now: datetime) -> ColumnElement[bool]:
    # Queued and due, or running under a lease that expired (its worker died or hung).
    return or_(
        and_(Job.status == "queued", Job.run_at <= now),
        and_(Job.status == "running", Job.lease_expires_at < now),
    )


async def claim(
    session: AsyncSession,
    owner: str,
    *,
    limit: int,
    lease_seconds: float,
    kinds: Sequence[str] | None = None,
) -> list[ClaimedJob]:
    """Lease up to `limit` due jobs to `owner` (call in its own short transaction).

    PostgreSQL: the candidate rows are locked with ``FOR UPDATE SKIP LOCKED`` so concurrent
    workers never claim the same row and never wait on each other. SQLite: the transaction
    starts with ``BEGIN IMMEDIATE`` (ehrconnect.kit.db), so claims are serialized anyway.
    """
    now = utcnow()
    candidates = select(Job.id).where(_claimable(now)).order_by(Job.run_at, Job.id).limit(limit)
    if kinds is not None:
        candidates = candidates.where(Job.kind.in_(list(kinds)))
    candidates = candidates.with_for_update(skip_locked=True)
    ids = list((await session.execute(candidates)).scalars())
    if not ids:
        return []
    rows = await session.execute(
        update(Job)
        .where(Job.id.in_(ids), _claimable(now))
        .values(
            status="running",
            lease_owner=owner,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            attempts=Job.attempts + 1,
            updated_at=now,
        )
        .returning(Job.id, Job.kind, Job.payload, Job.attempts, Job.max_attempts)
        .execution_options(synchronize_session=False)
    )
    claimed = [ClaimedJob(r.id, r.kind, dict(r.payload or {}), r.attempts, r.max_attempts, owner) for r in rows]
    claimed.sort(key=lambda j: ids.index(j.id))
    return claimed


async def renew_lease(session: AsyncSession, job_id: str, owner: str, lease_seconds: float) -> bool:
    """Extend the lease; False when this worker no longer holds it (another worker took over).

    Called inside every transaction a job writes in, it is also a fence: a worker that lost
    its lease cannot commit anything further for that job.
    """
    now = utcnow()
    result = await session.execute(
        update(Job)
        .where(Job.id == job_id, Job.lease_owner == owner, Job.status == "running")
        .values(lease_expires_at=now + timedelta(seconds=lease_seconds), updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


async def complete(session: AsyncSession, job_id: str, owner: str) -> bool:
    """Mark the job done (only while this worker holds it)."""
    now = utcnow()
    result = await session.execute(
        update(Job)
        .where(Job.id == job_id, Job.lease_owner == owner, Job.status == "running")
        .values(status="done", lease_owner=None, lease_expires_at=None, finished_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


async def fail(session: AsyncSession, job_id: str, owner: str, error: str) -> bool:
    """Give up on the job for good."""
    now = utcnow()
    result = await session.execute(
        update(Job)
        .where(Job.id == job_id, Job.lease_owner == owner, Job.status == "running")
        .values(
            status="failed", lease_owner=None, lease_expires_at=None, finished_at=now, updated_at=now,
            last_error=error[:2000],
        )
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


async def retry_at(
    session: AsyncSession, job_id: str, owner: str, run_at: datetime, error: str | None, *, refund: bool = False
) -> bool:
    """Put the job back in the queue for `run_at`. `refund` does not count this attempt (a
    graceful shutdown is not the job's fault)."""
    values: dict[str, Any] = {
        "status": "queued", "lease_owner": None, "lease_expires_at": None, "run_at": run_at,
        "updated_at": utcnow(),
    }
    if error is not None:
        values["last_error"] = error[:2000]
    if refund:
        values["attempts"] = Job.attempts - 1
    result = await session.execute(
        update(Job)
        .where(Job.id == job_id, Job.lease_owner == owner, Job.status == "running")
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


async def update_payload(session: AsyncSession, job_id: str, owner: str, payload: dict[str, Any]) -> bool:
    """Replace the payload of a job this worker holds (e.g. to remember a run id for resumes)."""
    result = await session.execute(
        update(Job)
        .where(Job.id == job_id, Job.lease_owner == owner, Job.status == "running")
        .values(payload=payload, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


def backoff_seconds(
    attempts: int, *, base: float = 5.0, cap: float = 3600.0, rng: random.Random | None = None
) -> float:
    """Exponential backoff with jitter for the `attempts`-th failure (1-based).

    "Equal jitter": half the exponential delay is kept, the other half is random, so retries of
    many jobs that failed together spread out but never retry immediately.
    """
    delay = min(cap, base * (2.0 ** max(0, attempts - 1)))
    jitter: float = (rng or random).uniform(0, delay / 2)
    return delay / 2 + jitter


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
