"""`Idempotency-Key` on POST: replay, mismatch, in-progress, per-caller scope, expiry."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from contract_kit import RETURN_URL, assert_error, authed
from ehrconnect.kit.crypto import sha256_hex
from ehrconnect.kit.time import utcnow
from ehrconnect.models import ConnectSession, IdempotencyRecord
from fastapi import FastAPI
from sqlalchemy import func, select, update

SESSION_BODY = {"patient_id": "idem", "return_url": RETURN_URL}


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
    secret = api.headers["Authorization"].split(" ", 1)[1]
    body = b'{"patient_id":"ip","return_url":"https://app.example.com/connected"}'
    import hashlib

    request_hash = hashlib.sha256(b"\n".join([b"POST", b"/sessions", b"", body])).hexdigest()
    async with app.state.ctx.db.session() as db:
        db.add(IdempotencyRecord(
            scope_hash=sha256_hex(secret), key="busy", request_hash=request_hash, status="in_progress",
            created_at=utcnow(), expires_at=utcnow() + timedelta(hours=1),
        ))
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


async def test_keys_are_scoped_per_api_key(api: httpx.AsyncClient, app: FastAPI, make_key: object) -> None:
    headers = {"Idempotency-Key": "shared"}
    first = await api.post("/sessions", json=SESSION_BODY, headers=headers)
    other_secret = await make_key("globex", "sandbox")  # type: ignore[operator]
    async with authed(app, other_secret) as other:
        second = await other.post("/sessions", json=SESSION_BODY, headers=headers)
    assert second.status_code == 200 and "idempotent-replayed" not in second.headers
    assert second.json()["id"] != first.json()["id"]


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
