"""Contract: POST /sessions and GET /sessions/{id}."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from urllib.parse import quote

import httpx
import pytest
from contract_kit import (
    ISO_PATTERN,
    RETURN_URL,
    SESSION_CONNECTION_KEYS,
    SESSION_KEYS,
    add_connection,
    add_live_source,
    assert_error,
    get_session_row,
    new_session,
    sandbox_source_id,
)
from ehrconnect.kit.crypto import sha256_hex
from ehrconnect.models import FhirSource
from fastapi import FastAPI


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_picker_session_shape(api: httpx.AsyncClient, app: FastAPI) -> None:
    source = await sandbox_source_id(app)
    body = await new_session(
        api, "user_42", patient_email="a@example.com", patient_name="Ann", recommended_connection_ids=[source],
        return_button_label="Acme Health", metadata={"signup_source": "checkout"},
    )
    assert set(body) == SESSION_KEYS
    assert body["resource_type"] == "session" and body["status"] == "open"
    assert re.match(r"^sess_[0-9A-HJKMNP-TV-Z]{26}$", body["id"])
    assert re.match(r"^http://testserver/c/[0-9a-f]{32}$", body["url"])
    assert body["patient_id"] == "user_42" and body["connection_id"] is None
    assert body["recommended_connection_ids"] == [source]
    assert body["return_url"] == RETURN_URL and body["return_button_label"] == "Acme Health"
    assert body["connections"] == [] and body["metadata"] == {"signup_source": "checkout"}
    assert re.match(ISO_PATTERN, body["created_at"]) and re.match(ISO_PATTERN, body["expires_at"])
    assert _ts(body["expires_at"]) - _ts(body["created_at"]) == timedelta(seconds=1800)


async def test_session_url_token_is_stored_hashed_and_encrypted(api: httpx.AsyncClient, app: FastAPI) -> None:
    body = await new_session(api)
    token = body["url"].rsplit("/", 1)[1]
    row = await get_session_row(app, body["id"])
    assert row.url_token_hash == sha256_hex(token)
    assert token not in row.url_token_encrypted
    assert app.state.ctx.cipher.decrypt(row.url_token_encrypted) == token


async def test_session_upserts_patient(api: httpx.AsyncClient) -> None:
    await new_session(api, "up", patient_email="old@example.com", patient_name="Old")
    patient = (await api.get("/patients/up")).json()
    assert (patient["email"], patient["name"]) == ("old@example.com", "Old")
    await new_session(api, "up", patient_email="new@example.com")
    patient = (await api.get("/patients/up")).json()
    assert (patient["email"], patient["name"]) == ("new@example.com", "Old")  # omitted name kept


async def test_direct_session_by_id_and_by_base_url(api: httpx.AsyncClient, app: FastAPI) -> None:
    source = await sandbox_source_id(app)
    by_id = await new_session(api, connection_id=source, expires_in=60)
    assert by_id["connection_id"] == source and by_id["recommended_connection_ids"] is None
    assert _ts(by_id["expires_at"]) - _ts(by_id["created_at"]) == timedelta(seconds=60)
    base_url = (await api.get(f"/connections/{source}")).json()["fhir_base_url"]
    by_url = await new_session(api, connection_id=base_url + "/", expires_in=86400)
    assert by_url["connection_id"] == source  # normalized to the fhirsrc_ id


async def test_session_connections_items(api: httpx.AsyncClient, app: FastAPI) -> None:
    source = await sandbox_source_id(app)
    session = await new_session(api, "sc", connection_id=source)
    failed = await add_connection(
        app, patient_id="sc", organization="acme", environment="sandbox", source_id=source,
        session_id=session["id"], status="failed", failure_code="user_denied",
    )
    active = await add_connection(
        app, patient_id="sc", organization="acme", environment="sandbox", source_id=source,
        session_id=session["id"],
    )
    body = (await api.get(f"/sessions/{session['id']}")).json()
    assert set(body) == SESSION_KEYS
    assert [set(c) for c in body["connections"]] == [SESSION_CONNECTION_KEYS] * 2
    # In order of attempts; a failed attempt has a null id (upstream contract).
    assert [c["id"] for c in body["connections"]] == [None, active]
    assert failed.startswith("conn_")
    assert body["connections"][0]["failure_code"] == "user_denied"
    assert body["connections"][1]["failure_code"] is None and body["connections"][1]["failure_at"] is None


async def test_get_session_lazy_expiry(api: httpx.AsyncClient, app: FastAPI) -> None:
    session = await new_session(api)
    async with app.state.ctx.db.session() as db:
        row = await get_session_row(app, session["id"])
        row.expires_at = row.created_at
        await db.merge(row)
    body = (await api.get(f"/sessions/{session['id']}")).json()
    assert body["status"] == "expired"
    assert (await get_session_row(app, session["id"])).status == "expired"  # and stored


async def test_get_session_round_trip_and_unknown(api: httpx.AsyncClient) -> None:
    created = await new_session(api)
    assert (await api.get(f"/sessions/{created['id']}")).json() == created
    assert_error(await api.get("/sessions/sess_01J9YQ8M2X4VZ6P2K5RH7M3KQT"), 404, "resource_not_found")


@pytest.mark.parametrize(
    ("override", "param"),
    [
        ({"patient_id": None}, "patient_id"),
        ({"patient_id": ""}, "patient_id"),
        ({"patient_id": "sess_123"}, "patient_id"),
        ({"return_url": None}, "return_url"),
        ({"return_url": "/relative"}, "return_url"),
        ({"return_url": "http://app.example.com/x"}, "return_url"),
        ({"return_url": "ftp://app.example.com/x"}, "return_url"),
        ({"patient_email": "nope"}, "patient_email"),
        ({"return_button_label": ""}, "return_button_label"),
        ({"return_button_label": "x" * 61}, "return_button_label"),
        ({"expires_in": 59}, "expires_in"),
        ({"expires_in": 86401}, "expires_in"),
        ({"expires_in": "soon"}, "expires_in"),
        ({"metadata": {f"k{i}": i for i in range(51)}}, "metadata"),
        ({"recommended_connection_ids": [""]}, "recommended_connection_ids.0"),
        ({"extra_field": True}, "extra_field"),
    ],
)
async def test_create_session_validation(api: httpx.AsyncClient, override: dict[str, object], param: str) -> None:
    body: dict[str, object] = {"patient_id": "v", "return_url": RETURN_URL}
    for key, value in override.items():
        if value is None:
            body.pop(key)
        else:
            body[key] = value
    assert_error(await api.post("/sessions", json=body), 400, "invalid_data", param)


@pytest.mark.parametrize("url", ["http://localhost:3000/done", "http://127.0.0.1/done?x=1"])
async def test_http_return_url_allowed_for_loopback(api: httpx.AsyncClient, url: str) -> None:
    assert (await new_session(api, return_url=url))["return_url"] == url


async def test_modes_are_mutually_exclusive(api: httpx.AsyncClient, app: FastAPI) -> None:
    source = await sandbox_source_id(app)
    response = await api.post(
        "/sessions",
        json={"patient_id": "m", "return_url": RETURN_URL, "connection_id": source,
              "recommended_connection_ids": [source]},
    )
    assert_error(response, 400, "invalid_data", "connection_id")
    assert_error(await api.get("/patients/m"), 404, "resource_not_found")  # nothing was upserted


async def test_unknown_and_other_environment_sources(api: httpx.AsyncClient, app: FastAPI) -> None:
    live = await add_live_source(app)
    for value in ("fhirsrc_01J9YR9N3X4VZ6P2K5RH7M3LMP", live.id, live.fhir_base_url):
        direct = await api.post("/sessions", json={"patient_id": "e", "return_url": RETURN_URL, "connection_id": value})
        assert_error(direct, 404, "resource_not_found", "connection_id")
        picker = await api.post(
            "/sessions", json={"patient_id": "e", "return_url": RETURN_URL, "recommended_connection_ids": [value]}
        )
        assert_error(picker, 404, "resource_not_found", "recommended_connection_ids")
    assert_error(await api.get("/patients/e"), 404, "resource_not_found")


async def test_disabled_source_is_refused(api: httpx.AsyncClient, app: FastAPI) -> None:
    source = await sandbox_source_id(app)
    async with app.state.ctx.db.session() as db:
        row = await db.get(FhirSource, source)
        assert row is not None
        row.disabled = True
    response = await api.post("/sessions", json={"patient_id": "x", "return_url": RETURN_URL, "connection_id": source})
    assert_error(response, 400, "invalid_data", "connection_id")


async def test_recommended_ids_deduplicated_and_normalized(api: httpx.AsyncClient, app: FastAPI) -> None:
    source = await sandbox_source_id(app)
    base_url = (await api.get(f"/connections/{quote(source)}")).json()["fhir_base_url"]
    body = await new_session(api, recommended_connection_ids=[source, base_url])
    assert body["recommended_connection_ids"] == [source]
