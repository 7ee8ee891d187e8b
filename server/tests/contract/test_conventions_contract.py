"""Contract: cross-cutting conventions on every route (auth, Version, X-Request-Id, framework errors)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from contract_kit import RETURN_URL, assert_error, authed
from ehrconnect.auth.keys import revoke_key
from ehrconnect.kit.crypto import sha256_hex
from ehrconnect.kit.time import utcnow
from ehrconnect.models import ApiKey
from fastapi import FastAPI
from sqlalchemy import select

#: Every authenticated route with a request that would succeed or 404 for a valid key.
ROUTES: list[tuple[str, str, dict[str, object] | None]] = [
    ("POST", "/patients", {"patient_id": "route_p"}),
    ("GET", "/patients", None),
    ("GET", "/patients/route_p", None),
    ("PUT", "/patients/route_p", {"patient_id": "route_p"}),
    ("DELETE", "/patients/route_p", None),
    ("GET", "/patients/route_p/sessions", None),
    ("DELETE", "/patients/route_p/connections/conn_x", None),
    ("POST", "/sessions", {"patient_id": "route_p", "return_url": RETURN_URL}),
    ("GET", "/sessions/sess_x", None),
    ("GET", "/connections", None),
    ("GET", "/connections/fhirsrc_x", None),
]
ROUTE_IDS = [f"{m} {p}" for m, p, _ in ROUTES]


async def _call(client: httpx.AsyncClient, method: str, path: str, body: dict[str, object] | None,
                headers: dict[str, str] | None = None) -> httpx.Response:
    return await client.request(method, path, json=body, headers=headers or {})


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=ROUTE_IDS)
async def test_missing_key(client: httpx.AsyncClient, method: str, path: str, body: dict[str, object] | None) -> None:
    error = assert_error(await _call(client, method, path, body), 401, "missing_api_key")
    assert error["type"] == "authentication_error"


@pytest.fixture
async def stale_keys(app: FastAPI, make_key: object) -> AsyncIterator[dict[str, str]]:
    revoked = await make_key("acme", "sandbox")  # type: ignore[operator]
    expired = await make_key("acme", "sandbox", expires_at=utcnow() - timedelta(seconds=1))  # type: ignore[operator]
    async with app.state.ctx.db.session() as session:
        key = (await session.execute(select(ApiKey).where(ApiKey.key_hash == sha256_hex(revoked)))).scalar_one()
        assert await revoke_key(session, key.id)
    yield {"revoked": revoked, "expired": expired}


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=ROUTE_IDS)
async def test_bad_keys(
    client: httpx.AsyncClient, stale_keys: dict[str, str], method: str, path: str, body: dict[str, object] | None
) -> None:
    cases = [
        ({"Authorization": "Bearer mb_sk_sbx_unknown"}, "invalid_api_key"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "invalid_api_key"),
        ({"Authorization": "Bearer "}, "invalid_api_key"),
        ({"Authorization": f"Bearer {stale_keys['revoked']}"}, "invalid_api_key"),
        ({"Authorization": f"Bearer {stale_keys['expired']}"}, "expired_api_key"),
    ]
    for headers, code in cases:
        assert_error(await _call(client, method, path, body, headers), 401, code)


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=ROUTE_IDS)
async def test_unsupported_version(
    api: httpx.AsyncClient, method: str, path: str, body: dict[str, object] | None
) -> None:
    response = await _call(api, method, path, body, {"Version": "2020-01-01"})
    error = assert_error(response, 400, "unsupported_api_version", "Version")
    assert error["type"] == "invalid_request_error"
    assert response.headers["version"] == "2026-04-25"


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=ROUTE_IDS)
async def test_version_echo_and_request_id(
    api: httpx.AsyncClient, method: str, path: str, body: dict[str, object] | None
) -> None:
    for headers in ({}, {"Version": "2026-04-25"}):
        response = await _call(api, method, path, body, headers)
        assert response.status_code in {200, 404, 409}, response.text
        assert response.headers["version"] == "2026-04-25"
        assert uuid.UUID(response.headers["x-request-id"]).version == 4


async def test_request_ids_are_unique(api: httpx.AsyncClient) -> None:
    ids = {(await api.get("/patients")).headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5


async def test_unknown_route_and_method(api: httpx.AsyncClient, client: httpx.AsyncClient) -> None:
    assert_error(await api.get("/nope"), 404, "resource_not_found")
    assert_error(await client.get("/patients/x/unknown/deeper"), 404, "resource_not_found")
    response = await api.patch("/patients/x", json={})
    assert_error(response, 405, "method_not_allowed")
    assert "PUT" in response.headers["allow"]
    assert_error(await api.delete("/sessions"), 405, "method_not_allowed")


async def test_wrong_content_type(api: httpx.AsyncClient) -> None:
    for path in ("/patients", "/sessions"):
        form = {"content-type": "application/x-www-form-urlencoded"}
        response = await api.post(path, content=b"patient_id=x", headers=form)
        assert_error(response, 415, "unsupported_media_type")
    response = await api.put("/patients/x", content=b"{}", headers={"content-type": "text/plain"})
    assert_error(response, 415, "unsupported_media_type")
    utf8 = {"content-type": "application/json; charset=utf-8"}
    ok = await api.post("/patients", content=b'{"patient_id":"ct"}', headers=utf8)
    assert ok.status_code == 200, ok.text


async def test_oversized_body(app: FastAPI, api: httpx.AsyncClient) -> None:
    limit = app.state.ctx.settings.max_body_bytes
    big = b'{"patient_id": "big", "metadata": {"k": "' + b"x" * limit + b'"}}'
    assert_error(await api.post("/patients", content=big, headers={"content-type": "application/json"}), 413,
                 "payload_too_large")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the streamed ceiling applies
        yield big[: limit // 2]
        yield big[limit // 2:]

    streamed = await api.post("/patients", content=chunks(), headers={"content-type": "application/json"})
    assert_error(streamed, 413, "payload_too_large")
    with_key = await api.post(
        "/patients", content=chunks(), headers={"content-type": "application/json", "Idempotency-Key": "big-1"}
    )
    assert_error(with_key, 413, "payload_too_large")
    assert_error(await api.get("/patients/big"), 404, "resource_not_found")


async def test_unhandled_error_is_an_envelope_without_trace(app: FastAPI, make_key: object) -> None:
    async def boom() -> None:
        raise RuntimeError("secret internals: user@example.com")

    app.add_api_route("/boom-test", boom, methods=["GET"])
    secret = await make_key("acme", "sandbox")  # type: ignore[operator]
    async with authed(app, secret) as client:
        response = await client.get("/boom-test")
    error = assert_error(response, 500, "internal_error")
    assert "secret internals" not in response.text and "Traceback" not in response.text
    assert error["type"] == "api_error"
    assert response.headers["version"] == "2026-04-25"


async def test_error_doc_page_lists_every_code(client: httpx.AsyncClient) -> None:
    from ehrconnect.errors import CATALOGUE

    page = await client.get("/docs/errors")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for entry in CATALOGUE:
        assert f'id="{entry.code}"' in page.text


async def test_nul_characters_are_400_not_500(api: httpx.AsyncClient) -> None:
    # PostgreSQL refuses NUL in text and JSONB; every entry point must answer 400 first.
    assert_error(await api.get("/patients", params={"email": "a\x00b"}), 400, "invalid_data", "email")
    assert_error(await api.get("/patients", params={"patient_id": "\x00"}), 400, "invalid_data", "patient_id")
    assert_error(await api.get("/connections", params={"q": "x\x00"}), 400, "invalid_data", "q")
    assert_error(await api.get("/patients/a%00b"), 400, "invalid_data", "path")
    assert_error(await api.get("/sessions/sess_%00"), 400, "invalid_data", "path")
    for body, param in (
        ({"patient_id": "n", "name": "a\x00"}, "name"),
        ({"patient_id": "n", "metadata": {"k": "v\x00"}}, "metadata"),
        ({"patient_id": "n", "metadata": {"k\x00": 1}}, "metadata"),
        ({"patient_id": "n", "metadata": {"k": ["\x00"]}}, "metadata"),
    ):
        assert_error(await api.post("/patients", json=body), 400, "invalid_data", param)
    session = {"patient_id": "n", "return_url": RETURN_URL, "return_button_label": "\x00"}
    assert_error(await api.post("/sessions", json=session), 400, "invalid_data", "return_button_label")
    assert (await api.get("/patients", params={"email": "a%00b"})).status_code == 200  # a literal "%00" is fine
