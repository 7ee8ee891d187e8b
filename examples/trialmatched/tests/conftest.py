"""Fixtures for the TrialMatched tests.

* ``fake`` / ``http``: the app in-process (ASGI) against a fake ehrconnect (``httpx.MockTransport``).
* ``stack``: the real thing over HTTP: the ehrconnect platform (API + hosted flow + the sandbox
  EHR mounted at /sandbox-ehr + the embedded worker pulling records) on one uvicorn server, a
  sandbox API key minted test-side, and TrialMatched on a second uvicorn server.
* ``browser``: headless Chromium (Debian's /usr/bin/chromium) with a fresh profile.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from ehrconnect_client import AsyncClient
from trialmatched.app import create_app
from trialmatched.settings import AppSettings
from trialmatched_fakes import API_KEY, API_URL, FakeEhrconnect

REPO = Path(__file__).resolve().parents[3]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
TEST_SECRET = "trialmatched-test-secret-0123456789abcdef"


@pytest.fixture
def fake() -> FakeEhrconnect:
    return FakeEhrconnect()


@pytest.fixture
def app_settings(tmp_path: Path) -> AppSettings:
    return AppSettings(
        api_key=API_KEY, api_url=API_URL, public_url="http://testserver",
        database=tmp_path / "trialmatched.sqlite3", secret_key=TEST_SECRET,
    )


@pytest.fixture
async def http(fake: FakeEhrconnect, app_settings: AppSettings) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client (cookies kept, redirects not followed) for the app on the fake API."""
    sdk = AsyncClient(api_key=API_KEY, base_url=API_URL, transport=fake.transport(), max_retries=0)
    app = create_app(app_settings, client=sdk)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
    await sdk.aclose()


# ----------------------------------------------------------------------------- real stack


def _server_support() -> Any:
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

    live = _server_support()
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


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """Platform + TrialMatched, each on its own uvicorn server."""
    live = _server_support()
    with running_platform(tmp_path) as platform:
        app_port = live.free_port()
        app_settings = AppSettings(
            api_key=platform.api_key, api_url=platform.url, public_url=f"http://127.0.0.1:{app_port}",
            database=tmp_path / "trialmatched.sqlite3", secret_key=TEST_SECRET,
        )
        with live.LiveServer(create_app(app_settings), app_port) as app_server:
            yield Stack(platform.url, app_server.url, platform.api_key)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """One platform shared by a module's tests (the integration-guide snippets)."""
    with running_platform(tmp_path_factory.mktemp("platform")) as running:
        yield running


@pytest.fixture
def browser() -> Iterator[Any]:
    """A headless Chromium browser with a throwaway profile (one context per test)."""
    if not CHROMIUM.exists():
        pytest.skip("Chromium not installed at /usr/bin/chromium")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()
