"""TrialMatched's routes against a fake ehrconnect (httpx.MockTransport), in-process."""

from __future__ import annotations

import json
import logging
import re

import httpx
import pytest
from trialmatched_fakes import API_KEY, SOURCES, FakeEhrconnect
from trialmatched_testkit import csrf_of, sign_in

NORMAL, DENY, ODD = (s["id"] for s in SOURCES)


async def start(http: httpx.AsyncClient, fake: FakeEhrconnect, facility: str | None = None) -> str:
    csrf = csrf_of((await http.get("/")).text)
    if facility is None:
        response = await http.post("/connect/picker", data={"csrf_token": csrf})
    else:
        response = await http.post("/connect/direct", data={"csrf_token": csrf, "facility_id": facility})
    assert response.status_code == 303, response.text
    session_id: str = list(fake.sessions)[-1]
    assert response.headers["location"] == fake.sessions[session_id]["url"]
    return session_id


async def test_signed_out_home_is_the_sign_in_form(http: httpx.AsyncClient) -> None:
    page = await http.get("/")
    assert page.status_code == 200
    assert 'action="/signin"' in page.text and "Connect your records" not in page.text


async def test_posts_without_csrf_are_refused(http: httpx.AsyncClient, fake: FakeEhrconnect) -> None:
    await http.get("/")
    assert (await http.post("/signin", data={"csrf_token": "nope", "username": "x"})).status_code == 403
    await sign_in(http)
    assert (await http.post("/connect/picker", data={"csrf_token": "nope"})).status_code == 403
    assert (await http.post("/connect/picker", data={})).status_code == 422
    assert not fake.sessions


async def test_bad_username_is_explained(http: httpx.AsyncClient) -> None:
    csrf = csrf_of((await http.get("/")).text)
    page = await http.post("/signin", data={"csrf_token": csrf, "username": "<script>"})
    assert page.status_code == 400 and 'role="alert"' in page.text and "<script>" not in page.text


async def test_picker_creates_a_session_and_redirects(http: httpx.AsyncClient, fake: FakeEhrconnect) -> None:
    await sign_in(http)
    session_id = await start(http, fake)
    sent = json.loads(next(r for r in fake.requests if r.method == "POST").content)
    assert sent["return_url"] == "http://testserver/connect/return"
    assert sent["patient_id"].startswith("tm_") and "connection_id" not in sent
    assert fake.sessions[session_id]["patient_id"] == sent["patient_id"]
    post = next(r for r in fake.requests if r.method == "POST")
    assert post.headers["Idempotency-Key"]  # the SDK makes the create safe to retry


async def test_direct_sends_the_chosen_facility(http: httpx.AsyncClient, fake: FakeEhrconnect) -> None:
    await sign_in(http)
    session_id = await start(http, fake, NORMAL)
    assert fake.sessions[session_id]["connection_id"] == NORMAL
    csrf = csrf_of((await http.get("/")).text)
    bad = await http.post("/connect/direct", data={"csrf_token": csrf, "facility_id": "https://evil/fhir"})
    assert bad.status_code == 400


async def test_search_json_and_no_js_fallback(http: httpx.AsyncClient) -> None:
    assert (await http.get("/api/facilities", params={"q": "sandbox"})).status_code == 401
    await sign_in(http)
    body = (await http.get("/api/facilities", params={"q": "sandbox"})).json()
    assert [f["name"] for f in body["data"]] == ["Sandbox Health", "Sandbox Health (consent denied)"]
    assert (await http.get("/api/facilities", params={"q": "s"})).json() == {"data": []}
    page = await http.get("/", params={"q": "mercy"})
    assert "Mercy &lt;b&gt;General&lt;/b&gt;" in page.text  # catalog text is escaped
    assert f'name="facility_id" value="{ODD}"' in page.text
    assert "No facilities match." in (await http.get("/", params={"q": "zzz"})).text


@pytest.mark.parametrize(
    ("outcomes", "hint", "state", "heading"),
    [
        ([(NORMAL, "active", None)], "", "success", "Connected — pulling records"),
        ([(NORMAL, "active", None), (DENY, "failed", "token_exchange_failed")], "", "partial",
         "Some of your records are connected"),
        ([(NORMAL, "failed", "token_exchange_failed")], "", "failure", "We could not connect your records"),
        ([(DENY, "failed", "user_denied")], "&success=false&error=user_denied", "cancelled",
         "No records were connected"),
        ([], "", "cancelled", "No records were connected"),
    ],
)
async def test_return_page_states(
    http: httpx.AsyncClient,
    fake: FakeEhrconnect,
    outcomes: list[tuple[str, str, str | None]],
    hint: str,
    state: str,
    heading: str,
) -> None:
    await sign_in(http)
    session_id = await start(http, fake)
    fake.finish(session_id, *outcomes)
    page = await http.get(f"/connect/return?session_id={session_id}&patient_id=x{hint}")
    assert page.status_code == 200
    assert f'data-state="{state}"' in page.text
    assert re.search(rf"<h1[^>]*>{heading}</h1>", page.text)
    # It asked the server, not the query string.
    assert any(r.method == "GET" and r.url.path == f"/sessions/{session_id}" for r in fake.requests)


async def test_forged_success_in_the_url_is_not_believed(http: httpx.AsyncClient, fake: FakeEhrconnect) -> None:
    await sign_in(http)
    session_id = await start(http, fake, NORMAL)
    fake.finish(session_id, (NORMAL, "failed", "oauth_callback_failed"))
    page = await http.get(f"/connect/return?session_id={session_id}&success=true&connection_id={NORMAL}")
    assert 'data-state="failure"' in page.text


async def test_open_session_offers_to_continue(http: httpx.AsyncClient, fake: FakeEhrconnect) -> None:
    await sign_in(http)
    session_id = await start(http, fake)
    page = await http.get(f"/connect/return?session_id={session_id}")
    assert 'data-state="pending"' in page.text and fake.sessions[session_id]["url"] in page.text


async def test_failure_logs_the_request_id(
    http: httpx.AsyncClient, fake: FakeEhrconnect, caplog: pytest.LogCaptureFixture
) -> None:
    await sign_in(http)
    session_id = await start(http, fake, NORMAL)
    fake.finish(session_id, (NORMAL, "failed", "token_exchange_failed"))
    with caplog.at_level(logging.INFO, logger="trialmatched"):
        page = await http.get(f"/connect/return?session_id={session_id}")
    request_id = fake.last_request_id
    assert request_id in page.text  # shown as a support reference
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"request_id={request_id}" in line and "token_exchange_failed" in line for line in lines)


async def test_another_users_session_is_not_shown(http: httpx.AsyncClient, fake: FakeEhrconnect) -> None:
    await sign_in(http, "alice")
    session_id = await start(http, fake, NORMAL)
    fake.finish(session_id, (NORMAL, "active", None))
    await sign_in(http, "mallory")
    assert (await http.get(f"/connect/return?session_id={session_id}")).status_code == 404
    assert (await http.get("/connect/return?session_id=sess_UNKNOWN")).status_code == 404
    assert (await http.get("/connect/return")).status_code == 400


async def test_signed_out_return_asks_to_sign_in(http: httpx.AsyncClient) -> None:
    assert (await http.get("/connect/return?session_id=sess_X")).status_code == 401


async def test_home_lists_facilities_with_records_count(http: httpx.AsyncClient, fake: FakeEhrconnect) -> None:
    await sign_in(http)
    session_id = await start(http, fake)
    fake.finish(session_id, (NORMAL, "active", None), (DENY, "failed", "user_denied"))
    patient_id = fake.sessions[session_id]["patient_id"]
    page = (await http.get("/")).text
    assert "Sandbox Health" in page and "Connected — pulling records" in page
    assert 'data-pulling="true"' in page and "Sandbox Health (consent denied)" not in page
    fake.add_records(patient_id, NORMAL, 234)
    fake.mark_synced(patient_id)
    page = (await http.get("/")).text
    assert "234 records" in page and "pulling records" not in page
    board = (await http.get("/api/dashboard")).json()
    assert board["records"] == "234 records" and board["pulling"] is False
    assert board["facilities"][0]["status"] == "Connected"
    pages = [r for r in fake.requests if r.url.path.endswith("/records")]
    assert {r.url.params["count"] for r in pages} == {"100"}


async def test_records_count_is_capped(http: httpx.AsyncClient, fake: FakeEhrconnect) -> None:
    await sign_in(http)
    session_id = await start(http, fake)
    fake.finish(session_id, (NORMAL, "active", None))
    fake.add_records(fake.sessions[session_id]["patient_id"], NORMAL, 5100)
    assert "5000+ records" in (await http.get("/")).text


@pytest.mark.parametrize(
    ("status", "type_", "code", "shown", "level"),
    [
        (401, "authentication_error", "invalid_api_key", 503, logging.ERROR),
        (404, "not_found_error", "resource_not_found", 404, logging.WARNING),
        (429, "rate_limit_error", "throttled", 503, logging.WARNING),
        (400, "invalid_request_error", "invalid_data", 500, logging.ERROR),
        (502, "ehr_error", "fhir_error", 502, logging.WARNING),
        (500, "api_error", "internal_error", 503, logging.ERROR),
    ],
)
async def test_sdk_errors_become_friendly_pages(
    http: httpx.AsyncClient,
    fake: FakeEhrconnect,
    caplog: pytest.LogCaptureFixture,
    status: int,
    type_: str,
    code: str,
    shown: int,
    level: int,
) -> None:
    await sign_in(http)
    fake.fail[("POST", "/sessions")] = (status, type_, code)
    csrf = csrf_of((await http.get("/")).text)
    with caplog.at_level(logging.INFO, logger="trialmatched"):
        page = await http.post("/connect/direct", data={"csrf_token": csrf, "facility_id": NORMAL})
    assert page.status_code == shown
    assert code not in page.text and f"{code} happened" not in page.text  # no internals to the patient
    record = next(r for r in caplog.records if "ehrconnect call failed" in r.getMessage())
    assert record.levelno == level
    assert f"request_id={fake.last_request_id}" in record.getMessage() and f"code={code}" in record.getMessage()


async def test_the_key_never_reaches_the_browser(http: httpx.AsyncClient, fake: FakeEhrconnect) -> None:
    bodies = [await http.get("/"), await http.get("/static/app.js"), await http.get("/static/app.css")]
    await sign_in(http)
    session_id = await start(http, fake, NORMAL)
    fake.finish(session_id, (NORMAL, "active", None))
    fake.add_records(fake.sessions[session_id]["patient_id"], NORMAL, 3)
    bodies += [
        await http.get("/"),
        await http.get("/", params={"q": "sandbox"}),
        await http.get("/api/facilities", params={"q": "sandbox"}),
        await http.get("/api/dashboard"),
        await http.get(f"/connect/return?session_id={session_id}"),
    ]
    for response in bodies:
        assert API_KEY not in response.text
        assert all(API_KEY not in value for value in response.headers.values())
    assert all(API_KEY not in cookie for cookie in http.cookies.values())


async def test_security_headers_and_no_inline_code(http: httpx.AsyncClient, fake: FakeEhrconnect) -> None:
    await sign_in(http)
    session_id = await start(http, fake)
    fake.finish(session_id, (NORMAL, "active", None))
    for url in ("/", "/?q=sandbox", f"/connect/return?session_id={session_id}"):
        page = await http.get(url)
        csp = page.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "default-src 'none'" in csp
        assert "form-action 'self' http://127.0.0.1:9" in csp
        assert page.headers["Cache-Control"] == "no-store"
        assert page.headers["X-Frame-Options"] == "DENY"
        assert not re.search(r"<script(?![^>]*\bsrc=)", page.text), "inline script"
        assert not re.search(r"\son[a-z]+=", page.text), "inline event handler"
        assert " style=" not in page.text and "<style" not in page.text
    cookie = next(h for k, h in (await _fresh_cookie(http)).headers.items() if k == "set-cookie")
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()


async def _fresh_cookie(http: httpx.AsyncClient) -> httpx.Response:
    http.cookies.clear()
    return await http.get("/")


async def test_records_count_failure_still_lists_facilities(http: httpx.AsyncClient, fake: FakeEhrconnect) -> None:
    await sign_in(http)
    session_id = await start(http, fake)
    fake.finish(session_id, (NORMAL, "active", None))
    fake.fail[("GET", f"/patients/{fake.sessions[session_id]['patient_id']}/records")] = (
        502, "ehr_error", "fhir_error",
    )
    page = (await http.get("/")).text
    assert "Connected — pulling records" in page and "could not load" not in page
    assert not re.search(r"\d+ records", page)
