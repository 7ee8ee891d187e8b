"""The real stack for end-to-end tests: the ehrconnect platform on a live uvicorn server.

Kept out of conftest.py so test modules can import it by a unique module name.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
TEST_SECRET = "trialmatched-test-secret-0123456789abcdef"


def server_support() -> Any:
    """server/tests/support/live.py (LiveServer): imported by path, it is not a package."""
    tests_dir = str(REPO / "server" / "tests")
    if tests_dir not in sys.path:
        sys.path.insert(0, tests_dir)
    return importlib.import_module("support.live")


@dataclass
class Stack:
    """The running platform and app, and the key (which only the test and the app's server know)."""

    platform_url: str
    app_url: str
    api_key: str


@dataclass
class Platform:
    """A running ehrconnect platform and a sandbox key for it."""

    url: str
    api_key: str


@contextmanager
def running_platform(tmp: Path) -> Iterator[Platform]:
    """The platform on a free port: fresh SQLite, sandbox EHR mounted, embedded worker on."""
    pytest.importorskip("ehrconnect", reason="the ehrconnect server package is not installed")
    from ehrconnect.app import build_context
    from ehrconnect.app import create_app as create_platform
    from ehrconnect.auth.keys import create_key
    from ehrconnect.config import Settings
    from ehrconnect.db_migrations import upgrade
    from pydantic import SecretStr

    live = server_support()
    port = live.free_port()
    db_path = tmp / "platform.sqlite3"
    settings = Settings(
        environment="test",
        database_url=f"sqlite:///{db_path}",
        data_dir=tmp,
        public_url=f"http://127.0.0.1:{port}",
        secret_key=SecretStr(TEST_SECRET),
        sandbox_ehr_enabled=True,
        embedded_worker=True,
        worker_poll_seconds=0.2,
        rate_limit_per_second=1000,
        rate_limit_burst=1000,
    )
    ctx = build_context(settings)

    async def mint() -> str:
        async with ctx.db.session() as session:
            key = await create_key(session, organization="trialmatched-tests", environment="sandbox")
        await ctx.db.dispose()
        return key.secret

    def prepare() -> str:
        upgrade(f"sqlite+aiosqlite:///{db_path}")
        return asyncio.run(mint())

    # In a worker thread: Playwright's sync API may already run an event loop in this one.
    with ThreadPoolExecutor(1) as pool:
        api_key = pool.submit(prepare).result()
    with live.LiveServer(create_platform(settings), port) as server:
        yield Platform(server.url, api_key)
