"""Token refresh under the connection lock is bounded: a hanging token endpoint cannot hold the
lock (SQLite: the database write lock) for longer than REFRESH_DEADLINE_SECONDS."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from ehrconnect.kit.time import utcnow
from ehrconnect.models import Connection
from ehrconnect.worker import tokens
from ehrconnect.worker.tokens import TokenManager, TokenUnavailable
from sqlalchemy import update
from worker_support import ALBERTO, HangingServer, Platform


async def test_hanging_token_endpoint_is_a_bounded_transient_failure(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tokens, "REFRESH_DEADLINE_SECONDS", 1.0, raising=False)
    connected = await platform.connect(ALBERTO, patient_id="alberto")
    hanging = HangingServer()
    async with hanging as token_url:
        async with platform.ctx.db.session() as session:
            await session.execute(
                update(Connection)
                .where(Connection.id == connected.connection_id)
                .values(token_endpoint=token_url, token_expires_at=utcnow() - timedelta(seconds=1))
            )
        started = time.monotonic()
        with pytest.raises(TokenUnavailable):
            await asyncio.wait_for(TokenManager(platform.ctx, connected.connection_id).access_token(), 5)
        assert time.monotonic() - started < 3
        assert hanging.requests == 1
    # The lock is released and the grant kept: a transient failure, retried later.
    async with platform.ctx.db.session() as session:
        row = await session.get(Connection, connected.connection_id)
        assert row is not None and row.status == "active" and row.refresh_token_encrypted is not None
