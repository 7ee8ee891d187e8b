"""The job runner: claims leased jobs, runs their handlers, renews leases, retries with backoff.

One :class:`Worker` per process (several processes on PostgreSQL; exactly one on SQLite, see
:mod:`ehrconnect.worker.embedded`). Each claimed job runs as its own task with a heartbeat that
renews the lease every third of its length; if a renewal finds the lease gone (the worker was
paused longer than the lease and another worker took the job), the handler is cancelled. Job
handlers also fence their own writes with :meth:`JobContext.fence`, so a worker that lost its
lease can never commit for that job.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import traceback
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ehrconnect.api.context import AppContext
from ehrconnect.kit.ids import new_id
from ehrconnect.kit.time import utcnow
from ehrconnect.worker import queue

logger = logging.getLogger("ehrconnect.worker")


class LeaseLost(Exception):
    """This worker no longer holds the job's lease: stop without writing anything."""


class RetryLater(Exception):
    """Transient failure: run the job again after `delay` seconds (None: exponential backoff)."""

    def __init__(self, message: str, *, delay: float | None = None) -> None:
        super().__init__(message)
        self.delay = delay


class PermanentFailure(Exception):
    """The job cannot succeed by retrying; mark it failed."""


@dataclass
class JobContext:
    """What a handler gets: the job, and the means to prove it still holds the lease."""

    job: queue.ClaimedJob
    lease_seconds: float
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.job.id

    @property
    def is_last_attempt(self) -> bool:
        return self.job.attempts >= self.job.max_attempts

    async def fence(self, session: AsyncSession) -> None:
        """Renew the lease inside `session`'s transaction, or raise :class:`LeaseLost`.

        On PostgreSQL the renewal also row-locks the job until commit, so the lease check and
        the handler's writes commit atomically.
        """
        if not await queue.renew_lease(session, self.job.id, self.job.owner, self.lease_seconds):
            raise LeaseLost(self.job.id)

    async def save_payload(self, session: AsyncSession, payload: dict[str, Any]) -> None:
        """Persist a new payload for this job (in the caller's transaction)."""
        if not await queue.update_payload(session, self.job.id, self.job.owner, payload):
            raise LeaseLost(self.job.id)
        self.payload = payload


Handler = Callable[[AppContext, JobContext], Coroutine[Any, Any, None]]
Tick = Callable[[AppContext], Awaitable[object]]


def default_handlers() -> dict[str, Handler]:
    """The job kinds the platform runs."""
    from ehrconnect.worker.sync import run_sync_job

    return {queue.SYNC_CONNECTION: run_sync_job}


def describe_failure(exc: BaseException) -> dict[str, str]:
    """An exception as loggable facts: its type and where it was raised, never its message
    (database errors carry statement parameters, which may be PHI or tokens)."""
    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    where = " <- ".join(f"{Path(f.filename).name}:{f.lineno}:{f.name}" for f in reversed(frames))
    return {"error": type(exc).__name__, "where": where}


def worker_name() -> str:
    """A unique lease owner name: host, pid and a random suffix."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{new_id('job')[-6:]}"


class Worker:
    """Claims and runs jobs until stopped. Optionally runs the scheduler tick too."""

    def __init__(
        self,
        ctx: AppContext,
        *,
        handlers: Mapping[str, Handler] | None = None,
        concurrency: int | None = None,
        poll_seconds: float | None = None,
        lease_seconds: float | None = None,
        scheduler: Tick | None = None,
        scheduler_every: float = 30.0,
        shutdown_grace: float = 10.0,
        name: str | None = None,
    ) -> None:
        settings = ctx.settings
        self.ctx = ctx
        self.handlers: dict[str, Handler] = dict(handlers) if handlers is not None else default_handlers()
        self.concurrency = max(1, concurrency or settings.worker_concurrency)
        self.poll_seconds = poll_seconds if poll_seconds is not None else settings.worker_poll_seconds
        self.lease_seconds = float(lease_seconds or settings.worker_lease_seconds)
        self.scheduler = scheduler
        self.scheduler_every = scheduler_every
        self.shutdown_grace = shutdown_grace
        self.name = name or worker_name()
        self._active: dict[str, asyncio.Task[None]] = {}
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._last_tick = 0.0

    # -- main loop ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until :meth:`stop` is called; then drain (or release) the jobs in flight."""
        logger.info("worker started", extra={"worker": self.name, "concurrency": self.concurrency})
        loop = asyncio.get_running_loop()
        try:
            while not self._stopping.is_set():
                if self.scheduler is not None and loop.time() - self._last_tick >= self.scheduler_every:
                    self._last_tick = loop.time()
                    await self._safe_tick()
                claimed = await self._claim_some()
                if claimed or self._stopping.is_set():
                    continue
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
        finally:
            await self._drain()
            logger.info("worker stopped", extra={"worker": self.name})

    def stop(self) -> None:
        """Ask the loop to finish: no new claims; running jobs get a grace period."""
        self._stopping.set()
        self._wake.set()

    async def run_until_idle(self, *, max_seconds: float = 60.0) -> None:
        """Test helper: claim and run jobs until none is due and none is running."""
        deadline = asyncio.get_running_loop().time() + max_seconds
        while True:
            claimed = await self._claim_some()
            if not claimed and not self._active:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("jobs still pending")
            if self._active:
                await asyncio.wait(list(self._active.values()), return_when=asyncio.FIRST_COMPLETED)
            elif not claimed:
                await asyncio.sleep(self.poll_seconds)

    async def _safe_tick(self) -> None:
        assert self.scheduler is not None
        try:
            await self.scheduler(self.ctx)
        except Exception as exc:  # the scheduler must never take the worker down
            logger.error("scheduler tick failed", extra=describe_failure(exc))

    async def _claim_some(self) -> int:
        free = self.concurrency - len(self._active)
        if free <= 0:
            return 0
        try:
            async with self.ctx.db.session() as session:
                jobs = await queue.claim(
                    session, self.name, limit=free, lease_seconds=self.lease_seconds, kinds=list(self.handlers)
                )
        except Exception as exc:
            logger.error("claiming jobs failed", extra=describe_failure(exc))
            return 0
        for job in jobs:
            task = asyncio.create_task(self._execute(job), name=f"job-{job.id}")
            self._active[job.id] = task
            task.add_done_callback(functools.partial(self._done, job.id))
        return len(jobs)

    def _done(self, job_id: str, _task: object = None) -> None:
        self._active.pop(job_id, None)
        self._wake.set()

    async def _drain(self) -> None:
        if not self._active:
            return
        tasks = list(self._active.values())
        _, pending = await asyncio.wait(tasks, timeout=self.shutdown_grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5)

    # -- one job ------------------------------------------------------------------------------

    async def _execute(self, job: queue.ClaimedJob) -> None:
        handler = self.handlers[job.kind]
        jctx = JobContext(job=job, lease_seconds=self.lease_seconds, payload=dict(job.payload))
        if job.attempts > job.max_attempts:
            await self._finish(job, "fail", error="too many attempts (the job keeps losing its worker)")
            return
        work = asyncio.create_task(handler(self.ctx, jctx))
        heartbeat = asyncio.create_task(self._heartbeat(job, work))
        try:
            await work
        except LeaseLost:
            logger.warning("job lease lost; another worker owns it now", extra={"job_id": job.id})
        except asyncio.CancelledError:
            if not self._stopping.is_set():
                # The heartbeat cancelled the handler: the lease is gone, the row is not ours.
                logger.warning("job lease lost; handler cancelled", extra={"job_id": job.id})
                return
            # Shutdown: hand the job back so another worker resumes it from its checkpoint now.
            await self._finish(job, "release", error=None)
            return
        except RetryLater as exc:
            await self._retry(job, str(exc), exc.delay)
        except PermanentFailure as exc:
            await self._finish(job, "fail", error=str(exc))
        except Exception as exc:  # a bug or an unclassified failure: retry with backoff
            logger.error("job failed", extra={"job_id": job.id, "kind": job.kind, **describe_failure(exc)})
            await self._retry(job, describe_failure(exc)["error"], None)
        else:
            await self._finish(job, "complete", error=None)
        finally:
            heartbeat.cancel()

    async def _heartbeat(self, job: queue.ClaimedJob, work: asyncio.Task[None]) -> None:
        interval = max(0.2, self.lease_seconds / 3)
        while not work.done():
            await asyncio.sleep(interval)
            try:
                async with self.ctx.db.session() as session:
                    held = await queue.renew_lease(session, job.id, job.owner, self.lease_seconds)
            except Exception:
                logger.warning("lease renewal failed; will retry", extra={"job_id": job.id})
                continue
            if not held:
                work.cancel()
                return

    async def _retry(self, job: queue.ClaimedJob, error: str, delay: float | None) -> None:
        if job.attempts >= job.max_attempts:
            await self._finish(job, "fail", error=error)
            return
        wait = delay if delay is not None else queue.backoff_seconds(job.attempts)
        await self._finish(job, "retry", error=error, delay=wait)

    async def _finish(self, job: queue.ClaimedJob, outcome: str, *, error: str | None, delay: float = 0) -> None:
        try:
            async with self.ctx.db.session() as session:
                if outcome == "complete":
                    await queue.complete(session, job.id, job.owner)
                elif outcome == "fail":
                    await queue.fail(session, job.id, job.owner, error or "failed")
                elif outcome == "retry":
                    await queue.retry_at(session, job.id, job.owner, utcnow() + timedelta(seconds=delay), error)
                else:  # release
                    await queue.retry_at(session, job.id, job.owner, utcnow(), None, refund=True)
        except Exception as exc:
            # The lease will expire and another worker will pick the job up again.
            logger.error(
                "could not record the job outcome",
                extra={"job_id": job.id, "outcome": outcome, **describe_failure(exc)},
            )
