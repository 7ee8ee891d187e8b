"""On SQLite, read sessions run beside a writer instead of queueing behind its lock."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ehrconnect.db_migrations import upgrade
from ehrconnect.kit.db import Database
from ehrconnect.models import Organization
from sqlalchemy import select


async def test_read_session_does_not_wait_for_the_write_lock(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}"
    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    writer_holds_lock = asyncio.Event()
    release_writer = asyncio.Event()

    async def writer() -> None:
        async with db.session() as session:
            session.add(Organization(id="org_1", name="a"))
            await session.flush()
            writer_holds_lock.set()
            await release_writer.wait()

    task = asyncio.create_task(writer())
    await writer_holds_lock.wait()
    async with asyncio.timeout(5):  # a write session here would block until the writer ends
        async with db.read_session() as session:
            rows = (await session.execute(select(Organization))).scalars().all()
    assert rows == []  # the writer has not committed yet
    release_writer.set()
    await task
    async with db.read_session() as session:
        assert [o.id for o in (await session.execute(select(Organization))).scalars()] == ["org_1"]
    await db.dispose()
