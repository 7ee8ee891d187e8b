"""Kill the `ehrconnect worker` process (SIGKILL) in the middle of a large sync, several times:
the next worker takes over when the lease expires, resumes from the checkpoint, and the final
stored set equals the source with nothing duplicated; the one run completes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from ehrconnect.models import Job, Record, SyncRun
from ehrconnect.sandbox_ehr.data import get_dataset
from sqlalchemy import func, select
from worker_support import LARGE, TEST_SECRET, Platform

KILLS = 3


def start_worker(db_url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "EHRCONNECT_DATABASE_URL": db_url,
        "EHRCONNECT_SECRET_KEY": TEST_SECRET,
        "EHRCONNECT_ENVIRONMENT": "test",
        "EHRCONNECT_SANDBOX_EHR_ENABLED": "false",
        "EHRCONNECT_SYNC_PAGE_SIZE": "25",
        "EHRCONNECT_WORKER_LEASE_SECONDS": "2",
        "EHRCONNECT_WORKER_POLL_SECONDS": "0.1",
        "EHRCONNECT_LOG_LEVEL": "WARNING",
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "ehrconnect.cli", "worker"], env=env, stdout=out, stderr=subprocess.STDOUT
        )


async def stored(platform: Platform) -> int:
    async with platform.ctx.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Record)) or 0)


async def test_sigkill_mid_sync_resumes_and_loses_nothing(platform: Platform, db_url: str, tmp_path: Path) -> None:
    connected = await platform.connect(f"large{LARGE}", profile="slow", patient_id="big")
    log = tmp_path / "worker.log"
    killed_at: list[int] = []
    loop = asyncio.get_running_loop()
    for kill in range(KILLS):
        process = start_worker(db_url, log)
        try:
            # Let it store a few more pages than the previous worker did, then kill it hard.
            target = (kill + 1) * LARGE // (KILLS + 2)
            deadline = loop.time() + 90
            while (count := await stored(platform)) < target:
                assert process.poll() is None, log.read_text()
                assert loop.time() < deadline, f"no progress past {count} records"
                await asyncio.sleep(0.05)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(10)
        killed_at.append(count)
        assert count < LARGE, "the sync finished before the kill"
    assert killed_at == sorted(killed_at)

    process = start_worker(db_url, log)
    try:
        deadline = loop.time() + 120
        while True:
            async with platform.ctx.db.session() as session:
                job = (await session.execute(select(Job))).scalar_one()
            if job.status in ("done", "failed"):
                break
            assert process.poll() is None, log.read_text()
            assert loop.time() < deadline, "sync did not finish"
            await asyncio.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)

    assert job.status == "done" and job.attempts == KILLS + 1
    async with platform.ctx.db.session() as session:
        (run,) = (await session.execute(select(SyncRun))).scalars().all()
        keys = (await session.execute(select(Record.resource_type, Record.resource_id))).all()
    assert run.status == "succeeded" and run.errors == []
    assert sum(run.counts.values()) == LARGE  # counts are checkpointed with the pages: none twice
    assert len(keys) == len(set(keys)) == LARGE
    truth = get_dataset([LARGE]).patients[connected.fhir_patient_id].keys
    assert {(t, i) for t, i in keys} == truth
    body = (await platform.api.get("/patients/big/records", params={"type": "Patient"})).json()
    assert body["data"][0]["resource"]["id"] == connected.fhir_patient_id
