"""The hosted Connect flow end to end: real platform + sandbox EHR servers, headless Chromium.

After every flow, ``GET /sessions/{id}`` (the truth) is checked, not only the return URL.
"""

from __future__ import annotations

from typing import Any

import pytest
from e2e_support import Platform, approve, db_rows, pick, query_of, shot
from ehrconnect.models import Connection, Job
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

NORMAL = "Sandbox Health"
SHORT = "Sandbox Health (short tokens)"


def _picker_session(platform: Platform, return_app: str, **extra: Any) -> dict[str, Any]:
    return platform.create_session(
        patient_id=extra.pop("patient_id", "e2e-patient"),
        return_url=f"{return_app}/return?app_state=xyz",
        return_button_label="Trial App",
        **extra,
    )


def test_picker_success(platform: Platform, return_app: str, page: Any) -> None:
    sources = platform.sources()
    sess = _picker_session(platform, return_app, recommended_connection_ids=[sources[NORMAL]])
    page.goto(sess["url"])
    assert page.locator("h1").inner_text() == "Connect your health records"
    assert page.locator(".pill").first.inner_text().lower() == "recommended"
    shot(page, "picker")
    pick(page, sources[NORMAL])
    approve(page)
    page.wait_for_selector("text=Connected — pulling records")
    shot(page, "completion")
    page.click("button:has-text('Done — return to Trial App')")
    page.wait_for_url(f"{return_app}/return*")
    params = query_of(page.url)
    assert params == {"app_state": "xyz", "session_id": sess["id"], "patient_id": "e2e-patient"}

    truth = platform.get_session(sess["id"])
    assert truth["status"] == "complete"
    [conn] = truth["connections"]
    assert conn["status"] == "active" and conn["id"].startswith("conn_")
    assert conn["connection_id"] == sources[NORMAL] and conn["failure_code"] is None
    # Tokens encrypted at rest, the background pull enqueued with the connection.
    [row] = db_rows(platform, Connection, id=conn["id"])
    assert row.access_token_encrypted and row.refresh_token_encrypted
    assert platform.ctx.cipher.decrypt(row.access_token_encrypted) != row.access_token_encrypted
    assert row.fhir_patient_id and row.oauth_client_id == "settings:sandbox"
    assert "patient/*.read" in row.scopes or "patient/*.rs" in row.scopes
    assert [j.kind for j in db_rows(platform, Job, dedupe_key=f"sync:{conn['id']}")] == ["sync_connection"]
    # The page never carries tokens or keys.
    assert platform.api_key not in page.content()


def test_picker_two_sources(platform: Platform, return_app: str, page: Any) -> None:
    sources = platform.sources()
    sess = _picker_session(platform, return_app, patient_id="e2e-two")
    page.goto(sess["url"])
    pick(page, sources[NORMAL])
    approve(page)
    page.wait_for_selector("text=Connected — pulling records")
    page.click("text=Connect another source")
    # Live search (JavaScript): type, the list narrows without a page load.
    page.fill("#q", "short tok")
    expect(page.locator("#results li")).to_have_count(1)
    expect(page.locator("#results-status")).to_contain_text("results for")
    assert "/sources" in page.url and "q=" not in page.url  # no page load happened
    pick(page, sources[SHORT])
    approve(page)
    page.wait_for_selector(".attempt.ok >> nth=1")
    assert page.locator(".attempt.ok").count() == 2
    page.click("button:has-text('Done')")
    page.wait_for_url(f"{return_app}/return*")

    truth = platform.get_session(sess["id"])
    assert truth["status"] == "complete"
    assert [(c["connection_id"], c["status"]) for c in truth["connections"]] == [
        (sources[NORMAL], "active"), (sources[SHORT], "active"),
    ]
    patient = platform.api.get("/patients/e2e-two").json()
    assert [c["connection_id"] for c in patient["connections"]] == [sources[SHORT], sources[NORMAL]]


def test_picker_search_without_javascript(platform: Platform, return_app: str, browser: Any) -> None:
    sources = platform.sources()
    sess = _picker_session(platform, return_app, patient_id="e2e-nojs")
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(sess["url"])
        page.fill("#q", "consent denied")
        page.click("button:has-text('Search')")
        page.wait_for_url("**/sources?q=consent+denied")
        assert page.locator("#results li").count() == 1
        assert page.locator(f"a[href$='/connect/{sources['Sandbox Health (consent denied)']}']").count() == 1
    finally:
        context.close()


def test_picker_deny_then_retry(platform: Platform, return_app: str, page: Any) -> None:
    sources = platform.sources()
    sess = _picker_session(platform, return_app, patient_id="e2e-deny")
    page.goto(sess["url"])
    pick(page, sources[NORMAL])
    approve(page, "deny")
    page.wait_for_selector("text=You chose not to share records from here.")
    assert page.locator("h1").inner_text() == "Let's try that again"
    shot(page, "denied")
    truth = platform.get_session(sess["id"])
    assert truth["status"] == "open"
    assert [(c["id"], c["status"], c["failure_code"]) for c in truth["connections"]] == [
        (None, "failed", "user_denied")
    ]
    assert truth["connections"][0]["failure_at"]

    page.click("a:has-text('Try again')")
    approve(page)
    page.wait_for_selector("text=Connected — pulling records")
    page.click("button:has-text('Done')")
    page.wait_for_url(f"{return_app}/return*")
    truth = platform.get_session(sess["id"])
    assert truth["status"] == "complete"
    assert [(c["status"], c["failure_code"]) for c in truth["connections"]] == [
        ("failed", "user_denied"), ("active", None),
    ]


def test_direct_success(platform: Platform, return_app: str, page: Any) -> None:
    sources = platform.sources()
    sess = platform.create_session(
        patient_id="e2e-direct", return_url=f"{return_app}/return", connection_id=sources[NORMAL]
    )
    page.goto(sess["url"])
    assert "/sandbox-ehr/normal/oauth/authorize?" in page.url  # straight to the EHR, no picker
    approve(page)
    page.wait_for_url(f"{return_app}/return*")
    params = query_of(page.url)
    assert params == {
        "session_id": sess["id"], "patient_id": "e2e-direct", "success": "true",
        "connection_id": sources[NORMAL],
    }
    truth = platform.get_session(sess["id"])
    assert truth["status"] == "complete"
    assert [(c["status"], c["connection_id"]) for c in truth["connections"]] == [("active", sources[NORMAL])]


def test_direct_deny(platform: Platform, return_app: str, page: Any) -> None:
    sources = platform.sources()
    sess = platform.create_session(
        patient_id="e2e-direct-deny", return_url=f"{return_app}/return", connection_id=sources[NORMAL]
    )
    page.goto(sess["url"])
    approve(page, "deny")
    page.wait_for_url(f"{return_app}/return*")
    params = query_of(page.url)
    assert params["success"] == "false" and params["error"] == "user_denied"
    assert params["error_description"] and params["session_id"] == sess["id"]
    truth = platform.get_session(sess["id"])
    assert truth["status"] == "complete"
    assert [(c["id"], c["status"], c["failure_code"]) for c in truth["connections"]] == [
        (None, "failed", "user_denied")
    ]
