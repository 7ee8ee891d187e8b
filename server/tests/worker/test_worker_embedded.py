"""`ehrconnect serve`'s embedded worker pulls records; on SQLite a second worker is refused."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from ehrconnect.app import build_context, create_app
from ehrconnect.auth.keys import create_key
from ehrconnect.catalog.seed import seed_sandbox_catalog
from support.connect import connect_patient
from support.live import LiveServer
from worker_support import ALBERTO, TEST_SECRET, platform_settings


async def test_embedded_worker_pulls_and_holds_the_sqlite_lock(db_url: str, tmp_path: Path, sandbox_root: str) -> None:
    settings = platform_settings(db_url, tmp_path, sandbox_root, embedded_worker=True)
    # The test's own context (its own engine) writes the connection; the server's worker pulls it.
    ctx = build_context(settings)
    try:
        async with ctx.db.session() as session:
            key = (await create_key(session, organization="acme", environment="sandbox")).secret
            await seed_sandbox_catalog(session, sandbox_root)
        with LiveServer(create_app(settings)) as server:
            await connect_patient(ctx, sandbox_root=sandbox_root, username=ALBERTO, patient_id="alberto")
            async with httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {key}"}) as api:
                deadline = asyncio.get_running_loop().time() + 60
                while True:
                    (conn,) = (await api.get("/patients/alberto")).json()["connections"]
                    if conn["sync_status"] == "succeeded":
                        break
                    assert asyncio.get_running_loop().time() < deadline, conn
                    await asyncio.sleep(0.2)
                records = (await api.get("/patients/alberto/records")).json()
                assert len(records["data"]) > 10
            if db_url.startswith("sqlite"):
                env = {
                    **os.environ, "EHRCONNECT_DATABASE_URL": db_url, "EHRCONNECT_SECRET_KEY": TEST_SECRET,
                    "EHRCONNECT_ENVIRONMENT": "test",
                }
                refused = subprocess.run(
                    [sys.executable, "-m", "ehrconnect.cli", "worker"], env=env, capture_output=True, timeout=60
                )
                assert refused.returncode == 2, refused.stderr
                assert b"refusing to start" in refused.stderr
    finally:
        await ctx.http.aclose()
        await ctx.db.dispose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_sqlite_lock_is_released_on_stop(db_url: str, tmp_path: Path) -> None:
    from ehrconnect.worker.embedded import SqliteWorkerLock, WorkerLockBusy

    first, second = SqliteWorkerLock(db_url), SqliteWorkerLock(db_url)
    first.acquire()
    with pytest.raises(WorkerLockBusy):
        second.acquire()
    first.release()
    second.acquire()
    second.release()
