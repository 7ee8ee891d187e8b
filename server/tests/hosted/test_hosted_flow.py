"""Hosted flow over ASGI with a mock EHR: security headers, CSRF, the warm direct-mode hot path,
single-use state under concurrency, state expiry, token exchange failures, return URLs."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from ehrconnect.connections.smart_cache import discovery_cache
from ehrconnect.hosted.pages import BROWSER_COOKIE
from ehrconnect.hosted.returns import direct_failure, picker_done, with_params
from ehrconnect.kit.crypto import sha256_hex
from ehrconnect.kit.time import utcnow
from ehrconnect.models import Connection, Job, OAuthState
from fastapi import FastAPI
from hosted_mock_ehr import AUTHORIZE, MockEhr
from sqlalchemy import select, update

RETURN = "https://app.example/back?keep=1"


def _q(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


async def _source_id(api: httpx.AsyncClient, name: str = "Sandbox Health") -> str:
    data = (await api.get("/connections", params={"q": name})).json()["data"]
    return str(next(item["id"] for item in data if item["name"] == name))


async def _session(api: httpx.AsyncClient, **extra: Any) -> dict[str, Any]:
    response = await api.post("/sessions", json={"patient_id": "pat-1", "return_url": RETURN, **extra})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def _launch(client: httpx.AsyncClient, sess: dict[str, Any], source_id: str) -> dict[str, str]:
    """Start a launch; returns the authorize URL's query parameters."""
    response = await client.get(_path(sess["url"]) + f"/connect/{source_id}")
    assert response.status_code == 302, response.text
    assert response.headers["location"].startswith(AUTHORIZE)
    return _q(response.headers["location"])


async def test_picker_page_headers_cookie_and_no_secrets(api: httpx.AsyncClient, mock_ehr: MockEhr) -> None:
    sess = await _session(api)
    key = api.headers["Authorization"].removeprefix("Bearer ")
    response = await api.get(_path(sess["url"]))
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp and "unsafe" not in csp
    assert "form-action 'self' https://app.example" in csp and "frame-ancestors 'none'" in csp
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{BROWSER_COOKIE}=") and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert key not in response.text and "<script src=\"/static/picker.js\"" in response.text
    assert 'name="csrf_token"' in response.text
    assert (await api.get("/static/picker.js")).status_code == 200


async def test_unknown_token_is_a_friendly_404(client: httpx.AsyncClient) -> None:
    for path in ("/c/" + "a" * 32, "/c/short", "/c/" + "a" * 32 + "/sources"):
        response = await client.get(path)
        assert response.status_code == 404
        assert "Link not found" in response.text and "Traceback" not in response.text


async def test_done_requires_csrf_bound_to_browser(api: httpx.AsyncClient, mock_ehr: MockEhr) -> None:
    sess = await _session(api, return_button_label="Trial App")
    page = await api.get(_path(sess["url"]))
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    done = _path(sess["url"]) + "/done"
    assert (await api.post(done, data={})).status_code == 403
    # Right token, other browser: rejected.
    other = httpx.AsyncClient(transport=api._transport, base_url="http://testserver")
    other.cookies.set(BROWSER_COOKIE, "x" * 43)
    assert (await other.post(done, data={"csrf_token": token})).status_code == 403
    assert (await api.get(f"/sessions/{sess['id']}")).json()["status"] == "open"
    response = await api.post(done, data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["location"] == f"{RETURN}&session_id={sess['id']}&patient_id=pat-1"
    assert (await api.get(f"/sessions/{sess['id']}")).json()["status"] == "complete"


async def test_direct_hot_path_fetches_nothing_when_warm(
    app: FastAPI, api: httpx.AsyncClient, mock_ehr: MockEhr
) -> None:
    source_id = await _source_id(api)
    sess = await _session(api, connection_id=source_id)
    # Creating a direct session warmed discovery in the background.
    cache = discovery_cache(app.state.ctx)
    for _ in range(50):
        if cache.peek("http://sandbox.test/sandbox-ehr/normal/fhir") is not None:
            break
        await asyncio.sleep(0.01)
    before = len(mock_ehr.requests)
    response = await api.get(_path(sess["url"]))
    assert response.status_code == 302
    assert len(mock_ehr.requests) == before  # no network on the hot path
    params = _q(response.headers["location"])
    assert params["code_challenge_method"] == "S256" and params["client_id"] == "ehrconnect-sandbox"
    assert params["redirect_uri"] == "http://testserver/oauth/callback"
    assert params["aud"] == "http://sandbox.test/sandbox-ehr/normal/fhir"
    assert params["scope"] == "openid fhirUser offline_access patient/*.rs"  # v2 advertised
    async with app.state.ctx.db.session() as session:
        row = (await session.execute(select(OAuthState))).scalar_one()
    assert row.state_hash == sha256_hex(params["state"]) and row.used_at is None
    assert (row.expires_at - row.created_at) == timedelta(minutes=10)
    assert app.state.ctx.cipher.decrypt(row.code_verifier_encrypted) not in row.code_verifier_encrypted


async def test_concurrent_callback_replay_has_one_winner(
    app: FastAPI, api: httpx.AsyncClient, mock_ehr: MockEhr
) -> None:
    source_id = await _source_id(api)
    sess = await _session(api)
    params = await _launch(api, sess, source_id)
    mock_ehr.token_delay = 0.05
    callback = f"/oauth/callback?code=c0de&state={params['state']}"
    first, second = await asyncio.gather(api.get(callback), api.get(callback))
    assert sorted([first.status_code, second.status_code]) == [303, 400]
    assert mock_ehr.token_calls() == 1
    truth = (await api.get(f"/sessions/{sess['id']}")).json()
    [conn] = truth["connections"]
    assert conn["status"] == "active"
    async with app.state.ctx.db.session() as session:
        row = await session.get(Connection, conn["id"])
        assert row is not None
        assert row.access_token_encrypted and "AT-plaintext" not in row.access_token_encrypted
        assert app.state.ctx.cipher.decrypt(row.access_token_encrypted) == "AT-plaintext-secret"
        assert row.revocation_endpoint == "https://ehr.test/oauth/revoke" and row.fhir_patient_id == "fhir-pat-1"
        assert row.sync_status == "pending" and row.scopes[-1] == "patient/*.rs"
        # Refresh scheduling measures the token's lifetime from when it was issued.
        assert row.token_issued_at is not None and row.token_expires_at is not None
        assert row.token_issued_at <= row.token_expires_at and row.token_issued_at <= row.created_at
        jobs = (await session.execute(select(Job).where(Job.dedupe_key == f"sync:{row.id}"))).scalars().all()
        assert len(jobs) == 1


async def test_expired_state_fails_the_attempt(app: FastAPI, api: httpx.AsyncClient, mock_ehr: MockEhr) -> None:
    source_id = await _source_id(api)
    sess = await _session(api)
    params = await _launch(api, sess, source_id)
    async with app.state.ctx.db.session() as session:
        await session.execute(update(OAuthState).values(expires_at=utcnow() - timedelta(seconds=1)))
    response = await api.get(f"/oauth/callback?code=c0de&state={params['state']}")
    assert response.status_code == 303
    assert mock_ehr.token_calls() == 0
    truth = (await api.get(f"/sessions/{sess['id']}")).json()
    assert [(c["id"], c["failure_code"]) for c in truth["connections"]] == [(None, "oauth_callback_failed")]
    page = await api.get(_path(sess["url"]))
    assert "The sign-in didn" in page.text and "Try again" in page.text


@pytest.mark.parametrize(
    ("status", "expected"), [(400, "token_exchange_failed"), (503, "source_unavailable")]
)
async def test_token_endpoint_failures(
    api: httpx.AsyncClient, mock_ehr: MockEhr, status: int, expected: str
) -> None:
    source_id = await _source_id(api)
    sess = await _session(api, connection_id=source_id)
    params = _q((await api.get(_path(sess["url"]))).headers["location"])
    mock_ehr.token_status = status
    mock_ehr.token_body = {"error": "invalid_grant", "error_description": "secret-ish upstream text"}
    response = await api.get(f"/oauth/callback?code=c0de&state={params['state']}")
    assert response.status_code == 200
    assert 'http-equiv="refresh"' in response.text
    target = response.text.split('content="0;url=', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    q = _q(target)
    assert (q["success"], q["error"], q["keep"]) == ("false", expected, "1")
    assert "upstream" not in response.text
    truth = (await api.get(f"/sessions/{sess['id']}")).json()
    assert truth["status"] == "complete"
    assert [c["failure_code"] for c in truth["connections"]] == [expected]


async def test_direct_discovery_down_returns_source_unavailable(
    api: httpx.AsyncClient, mock_ehr: MockEhr
) -> None:
    mock_ehr.discovery_status = 503
    source_id = await _source_id(api, "Sandbox Health (slow)")
    sess = await _session(api, connection_id=source_id)
    response = await api.get(_path(sess["url"]))
    assert response.status_code == 302
    q = _q(response.headers["location"])
    assert (q["success"], q["error"]) == ("false", "source_unavailable")
    assert (await api.get(_path(sess["url"]))).status_code == 200  # completed: friendly page now


async def test_callback_error_param_maps_to_user_denied(api: httpx.AsyncClient, mock_ehr: MockEhr) -> None:
    source_id = await _source_id(api)
    sess = await _session(api)
    params = await _launch(api, sess, source_id)
    response = await api.get(f"/oauth/callback?error=access_denied&state={params['state']}")
    assert response.status_code == 303 and response.headers["location"] == sess["url"]
    truth = (await api.get(f"/sessions/{sess['id']}")).json()
    assert truth["status"] == "open"
    assert [c["failure_code"] for c in truth["connections"]] == ["user_denied"]


def test_return_urls_keep_existing_parameters() -> None:
    assert with_params("https://a.example/r?x=1#frag", [("y", "2 3")]) == "https://a.example/r?x=1&y=2+3#frag"
    assert picker_done("https://a.example/r", "sess_1", "p&1") == "https://a.example/r?session_id=sess_1&patient_id=p%261"
    failed = _q(direct_failure("https://a.example/r", "sess_1", "p", "user_denied"))
    assert failed["success"] == "false" and failed["error"] == "user_denied" and failed["error_description"]


async def test_stale_states_are_purged_on_callback(
    app: FastAPI, api: httpx.AsyncClient, mock_ehr: MockEhr
) -> None:
    source_id = await _source_id(api)
    sess = await _session(api)
    old = await _launch(api, sess, source_id)
    params = await _launch(api, sess, source_id)
    async with app.state.ctx.db.session() as session:
        await session.execute(
            update(OAuthState)
            .where(OAuthState.state_hash == sha256_hex(old["state"]))
            .values(expires_at=utcnow() - timedelta(days=2))
        )
    assert (await api.get(f"/oauth/callback?code=c0de&state={params['state']}")).status_code == 303
    async with app.state.ctx.db.session() as session:
        hashes = set((await session.execute(select(OAuthState.state_hash))).scalars())
    assert hashes == {sha256_hex(params["state"])}


async def test_expired_direct_session_returns_session_expired(
    app: FastAPI, api: httpx.AsyncClient, mock_ehr: MockEhr
) -> None:
    from ehrconnect.models import ConnectSession

    source_id = await _source_id(api)
    sess = await _session(api, connection_id=source_id)
    async with app.state.ctx.db.session() as session:
        await session.execute(
            update(ConnectSession).where(ConnectSession.id == sess["id"]).values(expires_at=utcnow())
        )
    response = await api.get(_path(sess["url"]))
    assert response.status_code == 302
    q = _q(response.headers["location"])
    assert (q["success"], q["error"], q["session_id"], q["keep"]) == ("false", "session_expired", sess["id"], "1")
    truth = (await api.get(f"/sessions/{sess['id']}")).json()
    assert truth["status"] == "expired" and truth["connections"] == []
