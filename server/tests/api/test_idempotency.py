"""`Idempotency-Key` on POST: replay, mismatch, in-progress, per-tenant scope, expiry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
import pytest
from contract_kit import RETURN_URL, assert_error, authed
from ehrconnect import versions
from ehrconnect.api.idempotency import open_body, request_fingerprint, tenant_scope_hash
from ehrconnect.kit.crypto import sha256_hex
from ehrconnect.kit.time import utcnow
from ehrconnect.models import ApiKey, ConnectSession, IdempotencyRecord
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

SESSION_BODY = {"patient_id": "idem", "return_url": RETURN_URL}


async def _key_of(app: FastAPI, secret: str) -> ApiKey:
    async with app.state.ctx.db.session() as db:
        row: ApiKey = (
            await db.execute(select(ApiKey).where(ApiKey.key_hash == sha256_hex(secret)))
        ).scalar_one()
    return row


async def seed_claim(
    app: FastAPI, api: httpx.AsyncClient, key: str, path: str, body: bytes, *, age: timedelta
) -> None:
    """An `in_progress` row for `api`'s tenant, as a process that died `age` ago would leave it."""
    api_key = await _key_of(app, api.headers["Authorization"].split(" ", 1)[1])
    created = utcnow() - age
    async with app.state.ctx.db.session() as db:
        db.add(IdempotencyRecord(
            scope_hash=tenant_scope_hash(api_key.organization_id, api_key.environment), key=key,
            request_hash=request_fingerprint("POST", path, b"", api_key.api_version, body),
            status="in_progress", created_at=created, expires_at=created + timedelta(hours=24),
        ))


async def _session_count(app: FastAPI) -> int:
    async with app.state.ctx.db.session() as db:
        return int((await db.execute(select(func.count()).select_from(ConnectSession))).scalar_one())


async def test_replay_returns_the_stored_response(api: httpx.AsyncClient, app: FastAPI) -> None:
    headers = {"Idempotency-Key": "k-1"}
    first = await api.post("/sessions", json=SESSION_BODY, headers=headers)
    assert first.status_code == 200 and "idempotent-replayed" not in first.headers
    second = await api.post("/sessions", json=SESSION_BODY, headers=headers)
    assert second.status_code == 200
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json() == first.json()
    assert second.headers["content-type"] == "application/json"
    assert second.headers["x-request-id"] != first.headers["x-request-id"]
    assert await _session_count(app) == 1
    # Without the key the same body creates a second session.
    assert (await api.post("/sessions", json=SESSION_BODY)).status_code == 200
    assert await _session_count(app) == 2


async def test_replayed_errors_are_stored_too(api: httpx.AsyncClient) -> None:
    await api.post("/patients", json={"patient_id": "e1"})
    headers = {"Idempotency-Key": "dup"}
    first = await api.post("/patients", json={"patient_id": "e1"}, headers=headers)
    assert_error(first, 409, "external_id_already_exists")
    await api.delete("/patients/e1")
    again = await api.post("/patients", json={"patient_id": "e1"}, headers=headers)
    assert again.status_code == 409 and again.headers["idempotent-replayed"] == "true"


async def test_same_key_different_body_is_409(api: httpx.AsyncClient, app: FastAPI) -> None:
    headers = {"Idempotency-Key": "k-2"}
    assert (await api.post("/sessions", json=SESSION_BODY, headers=headers)).status_code == 200
    changed = await api.post("/sessions", json={**SESSION_BODY, "expires_in": 600}, headers=headers)
    error = assert_error(changed, 409, "idempotency_key_reused", "Idempotency-Key")
    assert error["type"] == "conflict_error"
    other_path = await api.post("/patients", json={"patient_id": "x"}, headers=headers)
    assert_error(other_path, 409, "idempotency_key_reused")
    assert await _session_count(app) == 1


async def test_in_progress_key_is_409(api: httpx.AsyncClient, app: FastAPI) -> None:
    body = b'{"patient_id":"ip","return_url":"https://app.example.com/connected"}'
    await seed_claim(app, api, "busy", "/sessions", body, age=timedelta(seconds=30))
    response = await api.post("/sessions", content=body, headers={"Idempotency-Key": "busy",
                                                                   "content-type": "application/json"})
    assert_error(response, 409, "idempotency_key_in_use", "Idempotency-Key")
    assert await _session_count(app) == 0


async def test_concurrent_requests_with_one_key_run_once(api: httpx.AsyncClient, app: FastAPI) -> None:
    headers = {"Idempotency-Key": "race"}
    responses = await asyncio.gather(*(api.post("/sessions", json=SESSION_BODY, headers=headers) for _ in range(6)))
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {200, 409}, [r.text for r in responses]
    winners = [r for r in responses if r.status_code == 200 and "idempotent-replayed" not in r.headers]
    assert len(winners) == 1
    for response in responses:
        if response.status_code == 200:
            assert response.json() == winners[0].json()
        else:
            assert_error(response, 409, "idempotency_key_in_use")
    assert await _session_count(app) == 1


async def test_keys_are_scoped_per_tenant(api: httpx.AsyncClient, app: FastAPI, make_key: object) -> None:
    headers = {"Idempotency-Key": "shared"}
    first = await api.post("/sessions", json=SESSION_BODY, headers=headers)
    other_secret = await make_key("globex", "sandbox")  # type: ignore[operator]
    async with authed(app, other_secret) as other:
        second = await other.post("/sessions", json=SESSION_BODY, headers=headers)
    assert second.status_code == 200 and "idempotent-replayed" not in second.headers
    assert second.json()["id"] != first.json()["id"]
    live_secret = await make_key("acme", "live")  # type: ignore[operator]
    async with authed(app, live_secret) as live:
        third = await live.post("/sessions", json=SESSION_BODY, headers=headers)
    assert third.status_code == 200 and "idempotent-replayed" not in third.headers


async def test_unauthenticated_and_throttled_answers_are_not_stored(client: httpx.AsyncClient, app: FastAPI) -> None:
    headers = {"Idempotency-Key": "auth", "Authorization": "Bearer mb_sk_sbx_wrong"}
    assert_error(await client.post("/sessions", json=SESSION_BODY, headers=headers), 401, "invalid_api_key")
    async with app.state.ctx.db.session() as db:
        assert (await db.execute(select(func.count()).select_from(IdempotencyRecord))).scalar_one() == 0


async def test_expired_keys_run_again(api: httpx.AsyncClient, app: FastAPI) -> None:
    headers = {"Idempotency-Key": "old"}
    first = await api.post("/sessions", json=SESSION_BODY, headers=headers)
    async with app.state.ctx.db.session() as db:
        await db.execute(update(IdempotencyRecord).values(expires_at=utcnow() - timedelta(seconds=1)))
    second = await api.post("/sessions", json=SESSION_BODY, headers=headers)
    assert second.status_code == 200 and "idempotent-replayed" not in second.headers
    assert second.json()["id"] != first.json()["id"]


async def test_key_length_limits(api: httpx.AsyncClient) -> None:
    response = await api.post("/patients", json={"patient_id": "l"}, headers={"Idempotency-Key": "x" * 256})
    assert_error(response, 400, "invalid_data", "Idempotency-Key")
    ok = await api.post("/patients", json={"patient_id": "l"}, headers={"Idempotency-Key": "x" * 255})
    assert ok.status_code == 200


async def test_get_ignores_the_header(api: httpx.AsyncClient) -> None:
    response = await api.get("/patients", headers={"Idempotency-Key": "x"})
    assert response.status_code == 200 and "idempotent-replayed" not in response.headers


# --- Review findings: auth before replay, per-tenant scope, encryption, stale claims, version ---


async def test_revoked_or_expired_key_gets_401_not_the_stored_replay(api: httpx.AsyncClient, app: FastAPI) -> None:
    secret = api.headers["Authorization"].split(" ", 1)[1]
    headers = {"Idempotency-Key": "after-revoke"}
    assert (await api.post("/sessions", json=SESSION_BODY, headers=headers)).status_code == 200
    api_key = await _key_of(app, secret)
    async with app.state.ctx.db.session() as db:
        await db.execute(update(ApiKey).where(ApiKey.id == api_key.id).values(expires_at=utcnow()))
    app.state.ctx.extras["api_key_cache"].clear()  # the lookup cache's TTL trade-off is tested elsewhere
    expired = await api.post("/sessions", json=SESSION_BODY, headers=headers)
    assert_error(expired, 401, "expired_api_key")
    assert "idempotent-replayed" not in expired.headers and '"url"' not in expired.text
    async with app.state.ctx.db.session() as db:
        await db.execute(update(ApiKey).where(ApiKey.id == api_key.id).values(revoked_at=utcnow()))
    app.state.ctx.extras["api_key_cache"].clear()
    revoked = await api.post("/sessions", json=SESSION_BODY, headers=headers)
    assert_error(revoked, 401, "invalid_api_key")
    assert "idempotent-replayed" not in revoked.headers


async def test_retry_after_key_rotation_in_the_same_tenant_replays(
    api: httpx.AsyncClient, app: FastAPI, make_key: object
) -> None:
    headers = {"Idempotency-Key": "rotate"}
    first = await api.post("/sessions", json=SESSION_BODY, headers=headers)
    rotated = await make_key("acme", "sandbox")  # type: ignore[operator]
    async with authed(app, rotated) as new_client:
        again = await new_client.post("/sessions", json=SESSION_BODY, headers=headers)
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert await _session_count(app) == 1
    async with app.state.ctx.db.session() as db:
        [row] = (await db.execute(select(IdempotencyRecord))).scalars().all()
    api_key = await _key_of(app, rotated)
    assert row.scope_hash == sha256_hex(f"{api_key.organization_id}:sandbox")


async def test_unauthenticated_posts_never_touch_the_table(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = 0
    real_session = app.state.ctx.db.session

    @asynccontextmanager
    async def counting_session() -> AsyncIterator[AsyncSession]:
        nonlocal opened
        opened += 1
        async with real_session() as session:
            yield session

    monkeypatch.setattr(app.state.ctx.db, "session", counting_session)
    for authorization in ("Bearer mb_sk_sbx_unknown", "Basic abc"):
        response = await client.post("/sessions", json=SESSION_BODY,
                                     headers={"Idempotency-Key": "anon", "Authorization": authorization})
        assert_error(response, 401, "invalid_api_key")
    missing = await client.post("/sessions", json=SESSION_BODY, headers={"Idempotency-Key": "anon"})
    assert_error(missing, 401, "missing_api_key")
    assert opened == 0


async def test_stored_bodies_are_encrypted_at_rest(api: httpx.AsyncClient, app: FastAPI) -> None:
    body = {**SESSION_BODY, "patient_name": "Zelda Quartermaine", "patient_email": "zelda@example.test"}
    headers = {"Idempotency-Key": "phi"}
    first = await api.post("/sessions", json=body, headers=headers)
    token = first.json()["url"].rsplit("/", 1)[1]
    async with app.state.ctx.db.session() as db:
        stored = (await db.execute(select(IdempotencyRecord.response_body))).scalar_one()
    assert stored is not None
    for secret in (token.encode(), b"Zelda", b"zelda@example.test", first.content):
        assert secret not in stored
    assert open_body(app.state.ctx.cipher, stored) == first.content
    again = await api.post("/sessions", json=body, headers=headers)
    assert again.headers["idempotent-replayed"] == "true" and again.content == first.content


async def test_abandoned_claims_are_taken_over(api: httpx.AsyncClient, app: FastAPI) -> None:
    body = b'{"patient_id":"crash","return_url":"https://app.example.com/connected"}'
    await seed_claim(app, api, "crashed", "/sessions", body, age=timedelta(seconds=50))
    headers = {"Idempotency-Key": "crashed", "content-type": "application/json"}
    assert_error(await api.post("/sessions", content=body, headers=headers), 409, "idempotency_key_in_use")
    async with app.state.ctx.db.session() as db:  # the claim's owner died: now 61 s old
        await db.execute(update(IdempotencyRecord).values(created_at=utcnow() - timedelta(seconds=61)))
    response = await api.post("/sessions", content=body, headers=headers)
    assert response.status_code == 200 and "idempotent-replayed" not in response.headers
    again = await api.post("/sessions", content=body, headers=headers)
    assert again.headers["idempotent-replayed"] == "true" and again.json() == response.json()
    assert await _session_count(app) == 1
    async with app.state.ctx.db.session() as db:
        [row] = (await db.execute(select(IdempotencyRecord))).scalars().all()
    assert row.status == "done" and row.expires_at > utcnow() + timedelta(hours=23)


async def test_only_one_retry_takes_over_an_abandoned_claim(api: httpx.AsyncClient, app: FastAPI) -> None:
    body = b'{"patient_id":"crash2","return_url":"https://app.example.com/connected"}'
    await seed_claim(app, api, "crashed2", "/sessions", body, age=timedelta(minutes=5))
    headers = {"Idempotency-Key": "crashed2", "content-type": "application/json"}
    responses = await asyncio.gather(*(api.post("/sessions", content=body, headers=headers) for _ in range(6)))
    assert {r.status_code for r in responses} <= {200, 409}, [r.text for r in responses]
    fresh = [r for r in responses if r.status_code == 200 and "idempotent-replayed" not in r.headers]
    assert len(fresh) == 1
    for response in responses:
        if response.status_code == 409:
            assert_error(response, 409, "idempotency_key_in_use")
        else:
            assert response.json() == fresh[0].json()
    assert await _session_count(app) == 1


async def test_the_api_version_is_part_of_the_request(
    api: httpx.AsyncClient, app: FastAPI, make_key: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(versions, "SUPPORTED_VERSIONS", ("2025-01-01", versions.LATEST_VERSION))
    headers = {"Idempotency-Key": "ver"}
    first = await api.post("/sessions", json=SESSION_BODY, headers={**headers, "Version": "2025-01-01"})
    assert first.status_code == 200
    other = await api.post("/sessions", json=SESSION_BODY, headers={**headers, "Version": versions.LATEST_VERSION})
    assert_error(other, 409, "idempotency_key_reused", "Idempotency-Key")
    same = await api.post("/sessions", json=SESSION_BODY, headers={**headers, "Version": "2025-01-01"})
    assert same.headers["idempotent-replayed"] == "true"
    # With no header the key's pin is the version: a key pinned to the old date replays.
    pinned = await make_key("acme", "sandbox", api_version="2025-01-01")  # type: ignore[operator]
    async with authed(app, pinned) as pinned_client:
        replay = await pinned_client.post("/sessions", json=SESSION_BODY, headers=headers)
    assert replay.headers["idempotent-replayed"] == "true" and replay.json() == first.json()
