"""Fixtures for the TrialMatched tests.

* ``fake`` / ``http``: the app in-process (ASGI) against a fake ehrconnect (``httpx.MockTransport``).
* ``stack``: the real thing over HTTP: the ehrconnect platform (API + hosted flow + the sandbox
  EHR mounted at /sandbox-ehr + the embedded worker pulling records) on one uvicorn server, a
  sandbox API key minted test-side, and TrialMatched on a second uvicorn server.
* ``browser``: headless Chromium (Debian's /usr/bin/chromium) with a fresh profile.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from ehrconnect_client import AsyncClient
from trialmatched.app import create_app
from trialmatched.settings import AppSettings
from trialmatched_fakes import API_KEY, API_URL, FakeEhrconnect
from trialmatched_stack import TEST_SECRET, Platform, Stack, running_platform, server_support

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]


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


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """Platform + TrialMatched, each on its own uvicorn server."""
    live = server_support()
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
