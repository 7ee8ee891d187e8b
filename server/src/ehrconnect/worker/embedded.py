"""Starting workers: embedded in `ehrconnect serve`, or standalone (`ehrconnect worker`).

On SQLite exactly one worker may run per database: every worker takes an exclusive lock on
``<database file>.worker.lock`` (``flock``; the OS drops it when the process dies, even on
SIGKILL). A second worker refuses to start (standalone) or stays off (embedded, with a warning).
On PostgreSQL any number of workers run side by side.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from ehrconnect.api.context import AppContext
from ehrconnect.worker.runner import Worker
from ehrconnect.worker.scheduler import tick

logger = logging.getLogger("ehrconnect.worker")


class WorkerLockBusy(RuntimeError):
    """Another worker already runs against this SQLite database."""


class SqliteWorkerLock:
    """Exclusive advisory lock beside a SQLite database file."""

    def __init__(self, database_url: str) -> None:
        database = make_url(database_url).database
        self.path = Path(f"{database}.worker.lock") if database and database != ":memory:" else None
        self._fd: int | None = None

    def acquire(self) -> None:
        if self.path is None:
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise WorkerLockBusy(f"another worker holds {self.path}") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


@dataclass
class WorkerHandle:
    """A running worker task and what to release when it stops."""

    worker: Worker
    task: asyncio.Task[None]
    lock: SqliteWorkerLock | None

    async def stop(self, grace: float = 20.0) -> None:
        """Stop claiming, let running jobs finish (or hand them back), release the lock."""
        self.worker.stop()
        try:
            await asyncio.wait_for(asyncio.shield(self.task), timeout=grace)
        except TimeoutError:
            self.task.cancel()
        finally:
            if self.lock is not None:
                self.lock.release()


def build_worker(ctx: AppContext, **overrides: object) -> Worker:
    """The platform worker: every job kind, with the scheduler."""
    return Worker(ctx, scheduler=tick, **overrides)  # type: ignore[arg-type]


def start_worker(ctx: AppContext, worker: Worker | None = None) -> WorkerHandle:
    """Start a worker task in the running loop. Raises WorkerLockBusy on a busy SQLite database."""
    lock = SqliteWorkerLock(ctx.settings.resolved_database_url) if ctx.db.is_sqlite else None
    if lock is not None:
        lock.acquire()
    worker = worker or build_worker(ctx)
    task = asyncio.create_task(worker.run(), name="ehrconnect-worker")
    return WorkerHandle(worker, task, lock)


async def start_embedded(ctx: AppContext) -> WorkerHandle | None:
    """For `serve`: start the embedded worker unless SQLite is already being worked elsewhere."""
    try:
        return start_worker(ctx)
    except WorkerLockBusy:
        logger.warning("embedded worker not started: another worker already serves this SQLite database")
        return None
