"""The job queue and runner: exclusive leases, lease expiry and takeover, retries with backoff."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import timedelta
from pathlib import Path

from ehrconnect.app import build_context
from ehrconnect.kit.time import utcnow
from ehrconnect.models import Job
from ehrconnect.worker import queue
from ehrconnect.worker.runner import JobContext, RetryLater, Worker
from sqlalchemy import select
from worker_support import platform_settings


async def test_two_workers_never_run_the_same_job_at_once(db_url: str, tmp_path: Path) -> None:
    settings = platform_settings(db_url, tmp_path, "http://unused.test")
    # Two contexts = two engines and pools, as two worker processes would have.
    ctx_a, ctx_b = build_context(settings), build_context(settings)
    running: set[str] = set()
    overlaps: list[str] = []
    runs: Counter[str] = Counter()
    by_worker: Counter[str] = Counter()

    async def probe(ctx: object, job: JobContext) -> None:
        if job.id in running:
            overlaps.append(job.id)
        running.add(job.id)
        await asyncio.sleep(random.uniform(0, 0.02))
        async with ctx_a.db.session() as session:
            await job.fence(session)
        running.discard(job.id)
        runs[job.id] += 1
        by_worker[job.job.owner] += 1

    async with ctx_a.db.session() as session:
        ids = [(await queue.enqueue(session, "probe", {"n": i})).id for i in range(60)]
    workers = [
        Worker(ctx, handlers={"probe": probe}, concurrency=4, poll_seconds=0.01, name=name)
        for ctx, name in ((ctx_a, "worker-a"), (ctx_b, "worker-b"))
    ]
    try:
        await asyncio.gather(*(w.run_until_idle(max_seconds=60) for w in workers))
        async with ctx_a.db.session() as session:
            statuses = Counter((await session.execute(select(Job.status))).scalars())
    finally:
        for ctx in (ctx_a, ctx_b):
            await ctx.http.aclose()
            await ctx.db.dispose()
    assert overlaps == []
    assert sorted(runs) == sorted(ids) and set(runs.values()) == {1}
    assert statuses == {"done": 60}
    assert by_worker["worker-a"] > 0 and by_worker["worker-b"] > 0


async def test_expired_lease_is_taken_over_and_the_old_owner_is_fenced(db_url: str, tmp_path: Path) -> None:
    ctx = build_context(platform_settings(db_url, tmp_path, "http://unused.test"))
    try:
        async with ctx.db.session() as session:
            job = await queue.enqueue(session, "probe", {})
        async with ctx.db.session() as session:
            (first,) = await queue.claim(session, "dead-worker", limit=5, lease_seconds=0.3)
        async with ctx.db.session() as session:
            assert await queue.claim(session, "other", limit=5, lease_seconds=30) == []  # still leased
        await asyncio.sleep(0.4)  # the first worker "died": its lease runs out
        async with ctx.db.session() as session:
            (second,) = await queue.claim(session, "other", limit=5, lease_seconds=30)
        assert second.id == first.id == job.id and second.attempts == 2
        async with ctx.db.session() as session:
            assert not await queue.renew_lease(session, job.id, "dead-worker", 30)
            assert not await queue.complete(session, job.id, "dead-worker")
            assert await queue.complete(session, job.id, "other")
            row = await session.get(Job, job.id)
            assert row is not None and row.status == "done" and row.lease_owner is None
    finally:
        await ctx.http.aclose()
        await ctx.db.dispose()


async def test_retries_back_off_and_give_up_after_max_attempts(db_url: str, tmp_path: Path) -> None:
    ctx = build_context(platform_settings(db_url, tmp_path, "http://unused.test"))
    calls: Counter[str] = Counter()

    async def flaky(_ctx: object, job: JobContext) -> None:
        calls[job.id] += 1
        if job.job.kind == "flaky" and calls[job.id] == 1:
            raise RetryLater("try again", delay=0.05)
        if job.job.kind == "broken":
            raise RuntimeError("always")

    try:
        async with ctx.db.session() as session:
            ok = await queue.enqueue(session, "flaky", {})
            broken = await queue.enqueue(session, "broken", {}, max_attempts=2)
        worker = Worker(ctx, handlers={"flaky": flaky, "broken": flaky}, poll_seconds=0.01)
        await worker.run_until_idle()
        async with ctx.db.session() as session:
            broken_row = await session.get(Job, broken.id)
            assert broken_row is not None and broken_row.status == "queued" and broken_row.attempts == 1
            # Exponential backoff with jitter: the first retry waits 2.5 to 5 s.
            wait = (broken_row.run_at - utcnow()).total_seconds()
            assert 2.0 < wait <= 5.0
            assert broken_row.last_error is not None and "RuntimeError" in broken_row.last_error
            broken_row.run_at = utcnow() - timedelta(seconds=1)
        await asyncio.sleep(0.06)
        await worker.run_until_idle()
        async with ctx.db.session() as session:
            ok_row = await session.get(Job, ok.id)
            broken_row = await session.get(Job, broken.id)
        assert ok_row is not None and ok_row.status == "done" and ok_row.attempts == 2
        assert broken_row is not None and broken_row.status == "failed" and broken_row.attempts == 2
        assert calls[ok.id] == 2 and calls[broken.id] == 2
    finally:
        await ctx.http.aclose()
        await ctx.db.dispose()


def test_backoff_grows_exponentially_with_jitter() -> None:
    rng = random.Random(7)
    samples = [queue.backoff_seconds(n, rng=rng) for n in range(1, 8)]
    for n, value in enumerate(samples, start=1):
        full = min(3600.0, 5.0 * 2 ** (n - 1))
        assert full / 2 <= value <= full
    assert queue.backoff_seconds(50, rng=rng) <= 3600


async def test_sync_jobs_are_deduplicated(db_url: str, tmp_path: Path) -> None:
    ctx = build_context(platform_settings(db_url, tmp_path, "http://unused.test"))
    try:
        async with ctx.db.session() as session:
            first = await queue.enqueue_sync(session, "conn_x")
            second = await queue.enqueue_sync(session, "conn_x")
        assert first.id == second.id
    finally:
        await ctx.http.aclose()
        await ctx.db.dispose()


async def test_stopping_a_worker_hands_its_job_back(db_url: str, tmp_path: Path) -> None:
    ctx = build_context(platform_settings(db_url, tmp_path, "http://unused.test"))
    started = asyncio.Event()

    async def slow(_ctx: object, job: JobContext) -> None:
        started.set()
        await asyncio.sleep(60)

    try:
        async with ctx.db.session() as session:
            job = await queue.enqueue(session, "slow", {})
        worker = Worker(ctx, handlers={"slow": slow}, poll_seconds=0.01, shutdown_grace=0.1)
        task = asyncio.create_task(worker.run())
        await asyncio.wait_for(started.wait(), 10)
        worker.stop()
        await asyncio.wait_for(task, 30)
        async with ctx.db.session() as session:
            row = await session.get(Job, job.id)
        # Back in the queue at once, and the interrupted attempt is not counted.
        assert row is not None and row.status == "queued" and row.attempts == 0 and row.lease_owner is None
    finally:
        await ctx.http.aclose()
        await ctx.db.dispose()


async def test_concurrent_enqueues_of_one_key_share_one_job(db_url: str, tmp_path: Path) -> None:
    """Two transactions enqueue the same sync at once (two `POST …/sync`, or one racing the
    scheduler): neither raises, both get the one job. On PostgreSQL the second INSERT waits on
    the unique index until the first commits."""
    ctx = build_context(platform_settings(db_url, tmp_path, "http://unused.test"))
    try:
        async with ctx.db.session() as first:
            job_a = await queue.enqueue_sync(first, "conn_race")
            first_id = job_a.id

            async def second() -> str:
                async with ctx.db.session() as session:
                    return (await queue.enqueue_sync(session, "conn_race")).id

            racing = asyncio.create_task(second())
            await asyncio.sleep(0.5)  # the second transaction is now waiting on the first
            assert not racing.done()
        assert await asyncio.wait_for(racing, 10) == first_id

        async def one() -> str:
            async with ctx.db.session() as session:
                return (await queue.enqueue_sync(session, "conn_many")).id

        ids = await asyncio.gather(*(one() for _ in range(8)))
        async with ctx.db.session() as session:
            keys = Counter(
                (await session.execute(select(Job.dedupe_key).where(Job.status == "queued"))).scalars()
            )
    finally:
        await ctx.http.aclose()
        await ctx.db.dispose()
    assert len(set(ids)) == 1
    assert keys == {queue.sync_dedupe_key("conn_race"): 1, queue.sync_dedupe_key("conn_many"): 1}
