"""The portal pages in headless Chromium: strict CSP, no JavaScript needed, keyboard focus, and the
consent redirect to the app is allowed by ``form-action``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from playwright.sync_api import Page, sync_playwright
from sandbox_helpers import ALBERTO, PASSWORD, PUBLIC_REDIRECT, Portal

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs headless Chromium"),
]


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        context = browser.new_context(java_script_enabled=False)
        yield context.new_page()
        context.close()
        browser.close()


def test_login_and_consent_in_a_browser(page: Page, portal: Portal) -> None:
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text))
    page.on("response", lambda response: problems.append(response.url) if response.status >= 400 else None)
    params = portal.authorize_params()
    params.pop("_verifier")
    page.goto(f"{portal.oauth}/authorize?{urlencode(params)}")
    assert page.get_attribute("#username", "autofocus") is not None
    assert page.get_by_label("Username").count() == 1 and page.get_by_label("Password").count() == 1
    page.get_by_label("Username").fill(ALBERTO[0])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="Share your health record?").is_visible()
    with page.expect_request(lambda request: request.url.startswith(PUBLIC_REDIRECT)) as redirect:
        page.get_by_role("button", name="Allow").click()
    query = parse_qs(urlsplit(redirect.value.url).query)
    assert query["state"] == [params["state"]]
    assert query["code"]
    assert problems == [], problems
