"""The Swagger UI at /docs renders our operations in a real headless browser, offline.

Every request the page makes is checked: anything not sent to our own server is aborted and
recorded, so a CDN reference fails the test instead of silently loading.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_server import LiveServer, run_live_server

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs headless Chromium"),
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    from ehrconnect.db_migrations import upgrade

    data_dir: Path = tmp_path_factory.mktemp("docs")
    url = f"sqlite+aiosqlite:///{data_dir / 'docs.sqlite3'}"
    upgrade(url)
    with run_live_server(url, data_dir) as server:
        yield server


def test_swagger_ui_renders_without_external_requests(live: LiveServer) -> None:
    from playwright.sync_api import Route, sync_playwright

    external: list[str] = []
    errors: list[str] = []

    def guard(route: Route) -> None:
        if route.request.url.startswith(live.url):
            route.continue_()
        else:
            external.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"],
        )
        try:
            page = browser.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.route("**/*", guard)
            page.goto(f"{live.url}/docs")
            page.wait_for_selector(".opblock-summary-path", timeout=20_000)
            operations = page.locator(".opblock-summary-path").all_inner_texts()
        finally:
            browser.close()
    assert external == [], f"the docs page reached outside the server: {external}"
    assert errors == []
    paths = {text.replace("\u200b", "").strip() for text in operations}
    assert {"/health", "/patients", "/sessions", "/connections/{id}"} <= paths
