"""TrialMatched end to end in real headless Chromium: platform + sandbox EHR + the app, over HTTP.

A patient signs in to TrialMatched, connects the sandbox EHR in Direct mode (the app's own
facility search) and in Picker mode (ehrconnect's hosted picker), sees "Connected — pulling
records", then a records count once the embedded worker has pulled. Every response the browser
received, from the app and from the platform, is checked for the API key.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from trialmatched_stack import Stack

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]

SANDBOX = "Sandbox Health"
RECORDS = re.compile(r"^\d+\+? records?$")


def sandbox_patient() -> tuple[str, str]:
    """Username and password of the sandbox patient with the fewest (but some) records."""
    from ehrconnect.sandbox_ehr.data import test_patients as sandbox_patients

    patient = min((p for p in sandbox_patients() if p.resource_count > 0), key=lambda p: p.resource_count)
    return patient.username, patient.password


class KeyWatch:
    """Records every response body the browser receives, to prove the key is never among them."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.checked = 0
        self.leaks: list[str] = []

    def __call__(self, response: Any) -> None:
        if 300 <= response.status < 400:
            location = response.headers.get("location", "")
            if self.key in location:
                self.leaks.append(response.url)
            return
        try:
            body = response.body()
        except Exception:  # body gone (navigation raced it); the next page is checked anyway
            return
        self.checked += 1
        if self.key.encode() in body or any(self.key in v for v in response.headers.values()):
            self.leaks.append(response.url)


@pytest.fixture
def page(browser: Any, stack: Stack) -> Iterator[tuple[Any, KeyWatch]]:
    context = browser.new_context()
    context.set_default_timeout(30_000)
    watch = KeyWatch(stack.api_key)
    tab = context.new_page()
    tab.on("response", watch)
    console: list[str] = []
    tab.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    yield tab, watch
    if console:
        print("browser console:", *console, sep="\n  ")
    context.close()


def sign_in(tab: Any, stack: Stack) -> None:
    tab.goto(stack.app_url + "/")
    tab.get_by_label("Your name").fill("patient-" + uuid.uuid4().hex[:8])
    tab.get_by_role("button", name="Sign in as demo patient").click()
    tab.get_by_role("heading", name="Your health records").wait_for()


def portal_sign_in_and_allow(tab: Any) -> None:
    """The sandbox EHR's login and consent pages (the patient's side of SMART on FHIR)."""
    username, password = sandbox_patient()
    tab.get_by_label("Username").fill(username)
    tab.get_by_label("Password").fill(password)
    tab.get_by_role("button", name="Sign in").click()
    tab.get_by_role("button", name="Allow").click()


def see_records_count(tab: Any, stack: Stack) -> str:
    """From the return page to the home page, where the count appears once records are pulled."""
    from playwright.sync_api import expect

    tab.get_by_role("link", name="See your connected facilities").click()
    expect(tab.locator("#facilities")).to_contain_text(SANDBOX)
    expect(tab.locator("#records-total")).to_have_text(RECORDS, timeout=120_000)
    text: str = tab.locator("#records-total").inner_text()
    assert int(text.split()[0].rstrip("+")) > 0
    return text


def test_direct_mode_connect(page: tuple[Any, KeyWatch], stack: Stack) -> None:
    from playwright.sync_api import expect

    tab, watch = page
    sign_in(tab, stack)
    tab.get_by_label("Hospital, clinic or portal name").fill(SANDBOX)
    result = tab.locator("#facility-results li").filter(has=tab.get_by_text(SANDBOX, exact=True))
    result.get_by_role("button", name="Connect").click()  # JS-rendered result from /api/facilities
    portal_sign_in_and_allow(tab)
    expect(tab).to_have_url(re.compile(rf"^{re.escape(stack.app_url)}/connect/return\?.*success=true"))
    expect(tab.get_by_role("heading", level=1)).to_have_text("Connected — pulling records")
    expect(tab.locator("[data-state]")).to_have_attribute("data-state", "success")
    see_records_count(tab, stack)
    assert watch.checked > 5 and not watch.leaks, watch.leaks


def test_picker_mode_connect(page: tuple[Any, KeyWatch], stack: Stack) -> None:
    from playwright.sync_api import expect

    tab, watch = page
    sign_in(tab, stack)
    tab.get_by_role("button", name="Connect your records").click()
    expect(tab).to_have_url(re.compile(rf"^{re.escape(stack.platform_url)}/c/"))
    tab.get_by_label("Search for your hospital, clinic or health system").fill(SANDBOX)
    tab.get_by_role("button", name="Search").click()
    tab.locator("#results a.source").filter(has=tab.get_by_text(SANDBOX, exact=True)).first.click()
    portal_sign_in_and_allow(tab)
    expect(tab.get_by_text("Connected — pulling records").first).to_be_visible()  # hosted completion page
    tab.get_by_role("button", name=re.compile("^Done")).click()
    expect(tab).to_have_url(re.compile(rf"^{re.escape(stack.app_url)}/connect/return\?"))
    expect(tab.get_by_role("heading", level=1)).to_have_text("Connected — pulling records")
    see_records_count(tab, stack)
    assert watch.checked > 5 and not watch.leaks, watch.leaks


def test_denied_consent_shows_cancelled(page: tuple[Any, KeyWatch], stack: Stack) -> None:
    from playwright.sync_api import expect

    tab, watch = page
    sign_in(tab, stack)
    tab.get_by_label("Hospital, clinic or portal name").fill(SANDBOX)
    result = tab.locator("#facility-results li").filter(has=tab.get_by_text(SANDBOX, exact=True))
    result.get_by_role("button", name="Connect").click()
    username, password = sandbox_patient()
    tab.get_by_label("Username").fill(username)
    tab.get_by_label("Password").fill(password)
    tab.get_by_role("button", name="Sign in").click()
    tab.get_by_role("button", name="Deny").click()
    expect(tab.locator("[data-state]")).to_have_attribute("data-state", "cancelled")
    expect(tab.get_by_role("heading", level=1)).to_have_text("No records were connected")
    assert not watch.leaks
