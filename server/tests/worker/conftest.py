"""Fixtures for background-pull tests: the sandbox EHR as a real HTTP server, and the platform
(context + API client) pointed at it, on each database backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from ehrconnect.sandbox_ehr import create_app as create_sandbox
from support.connect import sandbox_settings
from support.live import LiveServer
from worker_support import LARGE, PUBLIC_URL, Platform, make_platform, platform_settings


@pytest.fixture(scope="session")
def sandbox_root() -> Iterator[str]:
    """One sandbox EHR for the session: flaky at 30 %, 2-second short tokens, a 2,000-resource patient."""
    settings = sandbox_settings(
        PUBLIC_URL, large_patients=[LARGE], flaky_failure_rate=0.3, flaky_retry_after_seconds=0,
        short_access_token_lifetime=2, slow_latency_ms=50,
    )
    with LiveServer(create_sandbox(settings), lifespan="off") as server:
        yield server.url


@pytest.fixture
async def platform(db_url: str, tmp_path: Path, sandbox_root: str) -> AsyncIterator[Platform]:
    made = await make_platform(platform_settings(db_url, tmp_path, sandbox_root), sandbox_root)
    yield made
    await made.api.aclose()
    await made.ctx.http.aclose()
    await made.ctx.db.dispose()
