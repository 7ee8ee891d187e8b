"""A real `uvicorn` server process on a free loopback port, on a migrated database with one key."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from ehrconnect.auth.keys import create_key
from ehrconnect.catalog.seed import seed_sandbox_catalog
from ehrconnect.kit.db import Database

SANDBOX_ROOT = "http://sandbox.test/sandbox-ehr"


@dataclass(frozen=True)
class LiveServer:
    url: str
    key: str


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A new empty database on EHRCONNECT_TEST_DATABASE_URL's server, dropped afterwards."""
    import uuid

    import asyncpg
    import pytest
    from ehrconnect.config import to_async_url

    base = os.environ.get("EHRCONNECT_TEST_DATABASE_URL")
    if not base:
        if os.environ.get("EHRCONNECT_TEST_REQUIRE_ALL") == "1":
            pytest.fail("PostgreSQL (EHRCONNECT_TEST_DATABASE_URL) is required in CI")
        pytest.skip("PostgreSQL (EHRCONNECT_TEST_DATABASE_URL) not available")
    admin = to_async_url(base).replace("+asyncpg", "")
    name = f"ehrc_fuzz_{uuid.uuid4().hex[:8]}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{to_async_url(base).rpartition('/')[0]}/{name}"
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _prepare(database_url: str) -> str:
    db = Database(database_url)
    try:
        async with db.session() as session:
            await seed_sandbox_catalog(session, SANDBOX_ROOT)
            return (await create_key(session, organization="fuzz", environment="sandbox")).secret
    finally:
        await db.dispose()


@contextmanager
def run_live_server(database_url: str, data_dir: Path, **env: str) -> Iterator[LiveServer]:
    """Start `uvicorn ehrconnect.app:create_app_from_env` against an already migrated database."""
    key = asyncio.run(_prepare(database_url))
    port = free_port()
    environ = {
        **os.environ,
        "EHRCONNECT_DATABASE_URL": database_url,
        "EHRCONNECT_DATA_DIR": str(data_dir),
        "EHRCONNECT_ENVIRONMENT": "test",
        "EHRCONNECT_SECRET_KEY": "live-server-secret-0123456789abcdef0123",
        "EHRCONNECT_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "EHRCONNECT_SANDBOX_EHR_ENABLED": "false",
        "EHRCONNECT_SANDBOX_EHR_URL": SANDBOX_ROOT,
        "EHRCONNECT_EMBEDDED_WORKER": "false",
        "EHRCONNECT_RATE_LIMIT_PER_SECOND": "0",
        "EHRCONNECT_LOG_LEVEL": "WARNING",
        **env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "ehrconnect.app:create_app_from_env", "--factory",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"],
        env=environ,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the API server did not start")
            time.sleep(0.1)
        yield LiveServer(url, key)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
