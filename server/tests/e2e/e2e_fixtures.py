"""End-to-end fixtures (re-exported by this directory's conftest.py): the platform (with the
mounted sandbox EHR) and a tiny "integrating app" as real uvicorn servers on loopback ports, plus
headless Debian Chromium through Playwright.

Reusable by other e2e suites (e.g. the example app's): put ``server/tests`` and ``server/tests/e2e``
on ``sys.path`` and, in that suite's conftest.py, ``from e2e_fixtures import browser, page, platform,
return_app``. Fixtures:

- ``platform``: :class:`Platform` (``url``, ``api_key``, ``settings``, ``api`` = authed httpx client,
  ``ctx``); one server per test session, SQLite by default or PostgreSQL with
  ``EHRCONNECT_E2E_DATABASE_URL``.
- ``return_app``: base URL of an app whose ``/return`` page echoes the query string.
- ``browser`` (session) and ``page`` (fresh context, so fresh cookies, per test).
- ``sandbox_login(page, patient=None)``: sign in and land on the sandbox consent page.
"""

from __future__ import annotations

import html
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_support import CHROMIUM, CHROMIUM_ARGS, E2E_SECRET, Platform, in_thread, run_async
from ehrconnect.app import build_context, create_app
from ehrconnect.auth.keys import create_key
from ehrconnect.config import Settings
from ehrconnect.db_migrations import upgrade
from ehrconnect.kit.db import Database
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route
from support.live import LiveServer, free_port


def _database_url(tmp: Path) -> str:
    url = os.environ.get("EHRCONNECT_E2E_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp / 'e2e.sqlite3'}"


async def _make_key(url: str) -> str:
    db = Database(url)
    try:
        async with db.session() as session:
            key = await create_key(session, organization="e2e-org", environment="sandbox")
        return key.secret
    finally:
        await db.dispose()


@pytest.fixture(scope="session")
def platform() -> Iterator[Platform]:
    tmp = Path(tempfile.mkdtemp(prefix="ehrc-e2e-"))
    port = free_port()
    settings = Settings(
        environment="test",
        public_url=f"http://127.0.0.1:{port}",
        database_url=_database_url(tmp),
        data_dir=tmp,
        secret_key=E2E_SECRET,
        sandbox_ehr_enabled=True,
        sandbox_ehr_url=None,
        embedded_worker=False,
        rate_limit_per_second=1000,
        rate_limit_burst=1000,
    )
    in_thread(lambda: upgrade(settings.resolved_database_url))
    api_key: str = run_async(lambda: _make_key(settings.resolved_database_url))
    ctx = build_context(settings)
    app = create_app(settings, ctx=ctx)
    with LiveServer(app, port) as server, httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    ) as api:
        yield Platform(url=server.url, api_key=api_key, settings=settings, ctx=ctx, api=api)
    shutil.rmtree(tmp, ignore_errors=True)


async def _return_page(request: Request) -> HTMLResponse:
    items = "".join(
        f"<li><code>{html.escape(k)}</code> = <code>{html.escape(v)}</code></li>"
        for k, v in request.query_params.multi_items()
    )
    return HTMLResponse(f"<!doctype html><title>Back in the app</title><h1>Back in the app</h1><ul>{items}</ul>")


@pytest.fixture(scope="session")
def return_app() -> Iterator[str]:
    """An integrating app: ``{url}/return`` shows the parameters it was given."""
    app = Starlette(routes=[Route("/return", _return_page)])
    with LiveServer(app, lifespan="off") as server:
        yield server.url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium. Module-scoped: Playwright's sync API keeps an event loop running in the
    test thread while it is open, which would break async tests collected after this module."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A page in a fresh browser context (own cookies, like a new patient device)."""
    context = browser.new_context(viewport={"width": 420, "height": 900})
    context.set_default_timeout(20_000)
    pg = context.new_page()
    yield pg
    context.close()


