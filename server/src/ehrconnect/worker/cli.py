"""`ehrconnect worker`: run background jobs (syncs, token refresh, sweeps) in this process."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer
from rich.console import Console

console = Console(stderr=True)


def worker(
    concurrency: Annotated[int | None, typer.Option(help="Jobs run at once (default: settings).")] = None,
) -> None:
    """Run jobs until SIGTERM/SIGINT. Several processes may run on PostgreSQL; on SQLite only one
    worker per database may run (refused while `serve`'s embedded worker holds it)."""
    from ehrconnect.app import build_context
    from ehrconnect.config import Settings
    from ehrconnect.db_migrations import upgrade
    from ehrconnect.logging_setup import configure_logging
    from ehrconnect.worker.embedded import WorkerLockBusy, build_worker, start_worker

    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    if settings.is_sqlite:
        upgrade(settings.resolved_database_url)

    async def main() -> int:
        ctx = build_context(settings)
        try:
            overrides = {"concurrency": concurrency} if concurrency else {}
            try:
                handle = start_worker(ctx, build_worker(ctx, **overrides))
            except WorkerLockBusy as exc:
                console.print(f"refusing to start: {exc} (SQLite allows one worker; use PostgreSQL for more)")
                return 2
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, handle.worker.stop)
            console.print(f"worker {handle.worker.name} running")
            await handle.task
            if handle.lock is not None:
                handle.lock.release()
            return 0
        finally:
            await ctx.http.aclose()
            await ctx.db.dispose()

    code = asyncio.run(main())
    if code:
        raise typer.Exit(code)
