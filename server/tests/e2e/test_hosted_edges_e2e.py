"""Edge cases of the hosted flow in a real browser: expiry, tampered/replayed state, browser
binding, a source that is down. ``GET /sessions/{id}`` is checked after each."""

from __future__ import annotations

from typing import Any

import pytest
from e2e_support import (
    Platform,
    add_source,
    approve,
    expire_session,
    intercept_callback,
    pick,
    query_of,
    record_callbacks,
    shot,
)
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

NORMAL = "Sandbox Health"


def _session(platform: Platform, return_app: str, patient_id: str, **extra: Any) -> dict[str, Any]:
    return platform.create_session(
        patient_id=patient_id, return_url=f"{return_app}/return", return_button_label="Trial App", **extra
    )


def test_expired_session(platform: Platform, return_app: str, page: Any) -> None:
    sess = _session(platform, return_app, "edge-expired")
    expire_session(platform, sess["id"])
    response = page.goto(sess["url"])
    assert response.status == 410
    expect(page.locator("h1")).to_have_text("This link has expired")
    assert "Trial App" in page.content()
    assert platform.get_session(sess["id"])["status"] == "expired"


def test_session_expires_during_direct_launch(platform: Platform, return_app: str, page: Any) -> None:
    sources = platform.sources()
    sess = _session(platform, return_app, "edge-expired-direct", connection_id=sources[NORMAL])
    page.goto(sess["url"])
    expire_session(platform, sess["id"])
    approve(page)
    page.wait_for_url(f"{return_app}/return*")
    params = query_of(page.url)
    assert (params["success"], params["error"]) == ("false", "session_expired")
    truth = platform.get_session(sess["id"])
    assert truth["status"] == "expired" and truth["connections"] == []


def test_unknown_token_and_completed_session(platform: Platform, return_app: str, page: Any) -> None:
    response = page.goto(f"{platform.url}/c/{'0' * 32}")
    assert response.status == 404
    expect(page.locator("h1")).to_have_text("Link not found")

    sess = _session(platform, return_app, "edge-complete")
    page.goto(sess["url"])
    page.click("button:has-text('without connecting')")
    page.wait_for_url(f"{return_app}/return*")
    assert platform.get_session(sess["id"])["status"] == "complete"
    response = page.goto(sess["url"])
    assert response.status == 200
    expect(page.locator("h1")).to_have_text("You're all set")


def test_tampered_state(platform: Platform, return_app: str, page: Any) -> None:
    sources = platform.sources()
    sess = _session(platform, return_app, "edge-tampered")
    page.goto(sess["url"])
    pick(page, sources[NORMAL])

    def tamper(url: str) -> str:
        params = query_of(url)
        state = params["state"]
        forged = ("A" if state[0] != "A" else "B") + state[1:]
        return f"{platform.url}/oauth/callback?code={params['code']}&state={forged}"

    intercept_callback(page, tamper)
    approve(page)
    expect(page.locator("h1")).to_have_text("This sign-in link isn't valid")
    shot(page, "tampered")
    truth = platform.get_session(sess["id"])
    assert truth["status"] == "open" and truth["connections"] == []
    # Missing state altogether: the same friendly page, never a crash.
    response = page.goto(f"{platform.url}/oauth/callback?code=abc")
    assert response.status == 400


def test_picker_callback_replay(platform: Platform, return_app: str, page: Any) -> None:
    sources = platform.sources()
    sess = _session(platform, return_app, "edge-replay")
    callbacks = record_callbacks(page)
    page.goto(sess["url"])
    pick(page, sources[NORMAL])
    approve(page)
    page.wait_for_selector("text=Connected — pulling records")
    assert len(callbacks) == 1
    response = page.goto(callbacks[0])
    assert response.status == 400
    expect(page.locator("h1")).to_have_text("This sign-in was already used")
    truth = platform.get_session(sess["id"])
    assert truth["status"] == "open"
    assert [c["status"] for c in truth["connections"]] == ["active"]


def test_direct_callback_replay(platform: Platform, return_app: str, page: Any) -> None:
    sources = platform.sources()
    sess = _session(platform, return_app, "edge-replay-direct", connection_id=sources[NORMAL])
    callbacks = record_callbacks(page)
    page.goto(sess["url"])
    approve(page)
    page.wait_for_url(f"{return_app}/return*")
    assert query_of(page.url)["success"] == "true"
    page.goto(callbacks[0])
    page.wait_for_url(f"{return_app}/return*")
    params = query_of(page.url)
    assert (params["success"], params["error"]) == ("false", "oauth_callback_failed")
    truth = platform.get_session(sess["id"])
    assert truth["status"] == "complete"
    assert [c["status"] for c in truth["connections"]] == ["active"]  # the replay changed nothing


def test_state_is_bound_to_the_browser(platform: Platform, return_app: str, browser: Any, page: Any) -> None:
    """A callback URL opened in another browser (no launch cookie) fails: login-CSRF defence."""
    sources = platform.sources()
    sess = _session(platform, return_app, "edge-browser", connection_id=sources[NORMAL])
    page.goto(sess["url"])
    captured = intercept_callback(page, lambda url: None)
    approve(page)
    page.wait_for_function("() => document.title === 'held'")
    assert len(captured) == 1
    other = browser.new_context()
    try:
        intruder = other.new_page()
        intruder.goto(captured[0])
        intruder.wait_for_url(f"{return_app}/return*")
        assert query_of(intruder.url)["error"] == "oauth_callback_failed"
    finally:
        other.close()
    truth = platform.get_session(sess["id"])
    assert truth["status"] == "complete"
    assert [(c["status"], c["failure_code"]) for c in truth["connections"]] == [("failed", "oauth_callback_failed")]


def test_source_down(platform: Platform, return_app: str, page: Any) -> None:
    down = add_source(platform, "Downtown Clinic (offline)", "http://127.0.0.1:9/fhir")
    sess = _session(platform, return_app, "edge-down", recommended_connection_ids=[down])
    page.goto(sess["url"])
    pick(page, down)
    expect(page.locator(".attempt.bad")).to_contain_text("isn't reachable right now")
    assert "127.0.0.1:9" not in page.content()  # no internals
    truth = platform.get_session(sess["id"])
    assert [(c["status"], c["failure_code"]) for c in truth["connections"]] == [("failed", "source_unavailable")]

    direct = _session(platform, return_app, "edge-down-direct", connection_id=down)
    page.goto(direct["url"])
    page.wait_for_url(f"{return_app}/return*")
    params = query_of(page.url)
    assert (params["success"], params["error"]) == ("false", "source_unavailable")
    truth = platform.get_session(direct["id"])
    assert truth["status"] == "complete"
    assert [c["failure_code"] for c in truth["connections"]] == ["source_unavailable"]
