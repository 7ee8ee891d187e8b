"""Helpers for background-pull tests: the platform (context + API client) pointed at a live
sandbox EHR, and a job drain that waits for retries scheduled later."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from ehrconnect.api.context import AppContext
from ehrconnect.app import build_context, create_app
from ehrconnect.auth.keys import create_key
from ehrconnect.catalog.seed import seed_sandbox_catalog
from ehrconnect.config import Settings
from ehrconnect.models import Job
from ehrconnect.worker.runner import Worker
from fastapi import FastAPI
from sqlalchemy import func, select
from support.connect import Connected, connect_patient

PUBLIC_URL = "http://testserver"
TEST_SECRET = "test-secret-key-0123456789abcdef0123456789"
ALBERTO = "alberto.atencio"
LARGE = 2000


def platform_settings(db_url: str, data_dir: Path, sandbox_root: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "test", "database_url": db_url, "data_dir": data_dir, "public_url": PUBLIC_URL,
        "secret_key": TEST_SECRET, "sandbox_ehr_enabled": False, "sandbox_ehr_url": sandbox_root,
        "embedded_worker": False, "rate_limit_per_second": 1000, "rate_limit_burst": 1000,
        "worker_poll_seconds": 0.05, "worker_lease_seconds": 30, "sync_page_size": 100,
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class Platform:
    """The platform under test: context, app, an authenticated API client, the sandbox root."""

    ctx: AppContext
    app: FastAPI
    api: httpx.AsyncClient
    sandbox_root: str

    async def connect(self, username: str = ALBERTO, profile: str = "normal", **kwargs: Any) -> Connected:
        return await connect_patient(self.ctx, sandbox_root=self.sandbox_root, username=username, profile=profile,
                                     **kwargs)

    def worker(self, **kwargs: Any) -> Worker:
        return Worker(self.ctx, **kwargs)

    async def drain(self, worker: Worker | None = None, *, max_seconds: float = 120.0) -> None:
        """Run jobs (including retries scheduled for later) until none is queued or running."""
        worker = worker or self.worker()
        deadline = asyncio.get_running_loop().time() + max_seconds
        while True:
            await worker.run_until_idle(max_seconds=max_seconds)
            async with self.ctx.db.session() as session:
                pending = await session.scalar(
                    select(func.count()).select_from(Job).where(Job.status.in_(("queued", "running")))
                )
            if not pending:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{pending} jobs still pending")
            await asyncio.sleep(0.1)


async def make_platform(settings: Settings, sandbox_root: str) -> Platform:
    ctx = build_context(settings)
    async with ctx.db.session() as session:
        await seed_sandbox_catalog(session, sandbox_root)
        key = await create_key(session, organization="acme", environment="sandbox")
    app = create_app(settings, ctx=ctx)
    api = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL,
        headers={"Authorization": f"Bearer {key.secret}"},
    )
    return Platform(ctx, app, api, sandbox_root)


class HangingServer:
    """A TCP server that accepts HTTP requests and never answers: an EHR revocation endpoint
    that hangs. ``hit`` is set when the first request arrives."""

    def __init__(self) -> None:
        self.hit = asyncio.Event()
        self.requests = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        await reader.readuntil(b"\r\n\r\n")
        self.requests += 1
        self.hit.set()
        await reader.read()  # until the client gives up

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/revoke"

    async def __aexit__(self, *exc: object) -> None:
        for writer in self._writers:
            writer.close()
        assert self._server is not None
        self._server.close()
