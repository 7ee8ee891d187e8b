"""Contract: /patients routes. Exact key sets on success, every route-specific error code."""

from __future__ import annotations

import re

import httpx
import pytest
from contract_kit import (
    CONNECTION_TOMBSTONE_KEYS,
    ISO_PATTERN,
    LIST_KEYS,
    PATIENT_CONNECTION_KEYS,
    PATIENT_DETAIL_KEYS,
    PATIENT_KEYS,
    PATIENT_TOMBSTONE_KEYS,
    SESSION_KEYS,
    add_connection,
    assert_error,
    get_connection,
    new_session,
    sandbox_source_id,
)
from ehrconnect.models import Connection, ConnectSession, Patient
from fastapi import FastAPI
from sqlalchemy import func, select


async def test_create_patient_shape(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/patients", json={"patient_id": "user_1", "email": "a@example.com", "name": "Ann", "metadata": {"k": 1}}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == PATIENT_KEYS
    assert body == {
        "id": "user_1", "resource_type": "patient", "email": "a@example.com", "name": "Ann",
        "metadata": {"k": 1}, "created_at": body["created_at"],
    }
    assert re.match(ISO_PATTERN, body["created_at"])


async def test_create_minimal_patient_has_every_field(api: httpx.AsyncClient) -> None:
    body = (await api.post("/patients", json={"patient_id": "u"})).json()
    assert set(body) == PATIENT_KEYS
    assert (body["email"], body["name"], body["metadata"]) == (None, None, {})


async def test_duplicate_patient_is_409_and_changes_nothing(api: httpx.AsyncClient) -> None:
    await api.post("/patients", json={"patient_id": "dup", "name": "First"})
    again = await api.post("/patients", json={"patient_id": "dup", "name": "Second"})
    assert_error(again, 409, "external_id_already_exists", "patient_id")
    assert again.json()["error"]["type"] == "conflict_error"
    assert (await api.get("/patients/dup")).json()["name"] == "First"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "patient_id"),
        ({"patient_id": ""}, "patient_id"),
        ({"patient_id": "x" * 201}, "patient_id"),
        ({"patient_id": 12}, "patient_id"),
        ({"patient_id": "."}, "patient_id"),
        ({"patient_id": ".."}, "patient_id"),
        ({"patient_id": "a", "email": "not-an-email"}, "email"),
        ({"patient_id": "a", "name": "n" * 201}, "name"),
        ({"patient_id": "a", "metadata": {f"k{i}": i for i in range(51)}}, "metadata"),
        ({"patient_id": "a", "metadata": []}, "metadata"),
        ({"patient_id": "a", "unknown": 1}, "unknown"),
    ],
)
async def test_create_patient_validation(api: httpx.AsyncClient, body: dict[str, object], param: str) -> None:
    error = assert_error(await api.post("/patients", json=body), 400, "invalid_data", param)
    assert error["type"] == "invalid_request_error"


@pytest.mark.parametrize("prefix", ["pat_", "sess_", "ps_", "pf_", "conn_", "fhirsrc_", "wh_", "evt_"])
async def test_reserved_patient_id_prefixes(api: httpx.AsyncClient, prefix: str) -> None:
    response = await api.post("/patients", json={"patient_id": f"{prefix}123"})
    assert_error(response, 400, "invalid_data", "patient_id")


async def test_metadata_at_fifty_keys_is_accepted(api: httpx.AsyncClient) -> None:
    meta = {f"k{i}": i for i in range(50)}
    assert (await api.post("/patients", json={"patient_id": "m", "metadata": meta})).json()["metadata"] == meta


async def test_malformed_json_and_non_object_body(api: httpx.AsyncClient) -> None:
    broken = await api.post("/patients", content=b'{"patient_id": ', headers={"content-type": "application/json"})
    assert_error(broken, 400, "bad_request")
    array = await api.post("/patients", json=["patient_id"])
    assert array.status_code == 400 and array.json()["error"]["code"] in {"invalid_data", "bad_request"}
    empty = await api.post("/patients", headers={"content-type": "application/json"})
    assert_error(empty, 400, "bad_request")


async def test_list_patients_shape_and_filters(api: httpx.AsyncClient) -> None:
    for i in range(3):
        await api.post("/patients", json={"patient_id": f"p{i}", "email": f"p{i}@example.com"})
    listing = (await api.get("/patients")).json()
    assert set(listing) == LIST_KEYS and listing["resource_type"] == "list"
    assert [p["id"] for p in listing["data"]] == ["p2", "p1", "p0"]  # newest first
    assert all(set(p) == PATIENT_KEYS for p in listing["data"])
    assert listing["has_more"] is False and listing["next_cursor"] is None
    by_id = (await api.get("/patients", params={"patient_id": "p1"})).json()["data"]
    assert [p["id"] for p in by_id] == ["p1"]
    by_email = (await api.get("/patients", params={"email": "p2@example.com"})).json()["data"]
    assert [p["id"] for p in by_email] == ["p2"]
    assert (await api.get("/patients", params={"email": "nobody@example.com"})).json()["data"] == []


@pytest.mark.parametrize(
    ("params", "param"),
    [({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"limit": "x"}, "limit"),
     ({"starting_after": "garbage!!"}, "starting_after")],
)
async def test_list_patients_bad_query(api: httpx.AsyncClient, params: dict[str, str | int], param: str) -> None:
    assert_error(await api.get("/patients", params=params), 400, "invalid_data", param)


async def test_get_patient_with_connections_newest_first(api: httpx.AsyncClient, app: FastAPI) -> None:
    source = await sandbox_source_id(app)
    session = await new_session(api, "user_c", connection_id=source)
    failed = await add_connection(
        app, patient_id="user_c", organization="acme", environment="sandbox", source_id=source,
        session_id=session["id"], status="failed", failure_code="user_denied",
    )
    active = await add_connection(
        app, patient_id="user_c", organization="acme", environment="sandbox", source_id=source,
        session_id=session["id"],
    )
    body = (await api.get("/patients/user_c")).json()
    assert set(body) == PATIENT_DETAIL_KEYS
    assert [c["id"] for c in body["connections"]] == [active, failed]
    for item in body["connections"]:
        assert set(item) == PATIENT_CONNECTION_KEYS
        assert item["resource_type"] == "connection" and item["session_id"] == session["id"]
        assert item["connection_id"] == source
    assert body["connections"][1]["status"] == "failed"
    assert body["connections"][1]["failure_code"] == "user_denied"
    assert re.match(ISO_PATTERN, body["connections"][1]["failure_at"])
    assert body["connections"][0]["scopes"] == ["patient/*.read", "offline_access"]


async def test_get_unknown_patient(api: httpx.AsyncClient) -> None:
    error = assert_error(await api.get("/patients/nobody"), 404, "resource_not_found")
    assert error["type"] == "not_found_error"


async def test_put_replaces_and_clears_omitted(api: httpx.AsyncClient) -> None:
    await api.post("/patients", json={"patient_id": "r", "email": "r@example.com", "name": "R", "metadata": {"a": 1}})
    replaced = await api.put("/patients/r", json={"patient_id": "r", "name": "New"})
    assert replaced.status_code == 200, replaced.text
    body = replaced.json()
    assert set(body) == PATIENT_KEYS
    assert (body["email"], body["name"], body["metadata"]) == (None, "New", {})
    assert (await api.get("/patients/r")).json()["name"] == "New"


async def test_put_errors(api: httpx.AsyncClient) -> None:
    await api.post("/patients", json={"patient_id": "r"})
    assert_error(await api.put("/patients/r", json={"patient_id": "other"}), 400, "invalid_data", "patient_id")
    assert_error(await api.put("/patients/r", json={}), 400, "invalid_data", "patient_id")
    assert_error(await api.put("/patients/r", json={"patient_id": "r", "x": 1}), 400, "invalid_data", "x")
    assert_error(await api.put("/patients/ghost", json={"patient_id": "ghost"}), 404, "resource_not_found")


async def test_delete_patient_hard_deletes_everything(api: httpx.AsyncClient, app: FastAPI) -> None:
    source = await sandbox_source_id(app)
    session = await new_session(api, "gone", connection_id=source)
    await add_connection(
        app, patient_id="gone", organization="acme", environment="sandbox", source_id=source,
        session_id=session["id"],
    )
    response = await api.delete("/patients/gone")
    assert response.status_code == 200, response.text
    assert response.json() == {"id": "gone", "resource_type": "patient", "deleted": True}
    assert set(response.json()) == PATIENT_TOMBSTONE_KEYS
    assert_error(await api.get("/patients/gone"), 404, "resource_not_found")
    assert_error(await api.get(f"/sessions/{session['id']}"), 404, "resource_not_found")
    async with app.state.ctx.db.session() as db:
        for model in (Patient, ConnectSession, Connection):
            assert (await db.execute(select(func.count()).select_from(model))).scalar_one() == 0
    assert_error(await api.delete("/patients/gone"), 404, "resource_not_found")


async def test_patient_sessions_list_and_status_filter(api: httpx.AsyncClient, app: FastAPI) -> None:
    first = await new_session(api, "s")
    second = await new_session(api, "s")
    listing = (await api.get("/patients/s/sessions")).json()
    assert set(listing) == LIST_KEYS
    assert [s["id"] for s in listing["data"]] == [second["id"], first["id"]]
    assert all(set(s) == SESSION_KEYS for s in listing["data"])
    async with app.state.ctx.db.session() as db:
        row = await db.get(ConnectSession, first["id"])
        assert row is not None
        row.expires_at = row.created_at  # past: lazily expired
    expired = (await api.get("/patients/s/sessions", params={"status": "expired"})).json()["data"]
    assert [(s["id"], s["status"]) for s in expired] == [(first["id"], "expired")]
    open_ = (await api.get("/patients/s/sessions", params={"status": "open"})).json()["data"]
    assert [s["id"] for s in open_] == [second["id"]]
    assert (await api.get("/patients/s/sessions", params={"status": "complete"})).json()["data"] == []


async def test_patient_sessions_errors(api: httpx.AsyncClient) -> None:
    await new_session(api, "s")
    assert_error(await api.get("/patients/s/sessions", params={"status": "bogus"}), 400, "invalid_data", "status")
    assert_error(
        await api.get("/patients/s/sessions", params={"starting_after": "bm9wZQ"}), 400, "invalid_data",
        "starting_after",
    )
    assert_error(await api.get("/patients/nobody/sessions"), 404, "resource_not_found")


async def test_disconnect_connection(api: httpx.AsyncClient, app: FastAPI) -> None:
    source = await sandbox_source_id(app)
    await api.post("/patients", json={"patient_id": "d"})
    conn = await add_connection(app, patient_id="d", organization="acme", environment="sandbox", source_id=source)
    response = await api.delete(f"/patients/d/connections/{conn}")
    assert response.status_code == 200, response.text
    assert response.json() == {"id": conn, "resource_type": "connection", "disconnected": True}
    assert set(response.json()) == CONNECTION_TOMBSTONE_KEYS
    row = await get_connection(app, conn)
    assert row.status == "disconnected"
    assert row.access_token_encrypted is None and row.refresh_token_encrypted is None
    assert (await api.get("/patients/d")).json()["connections"][0]["status"] == "disconnected"


async def test_disconnect_errors(api: httpx.AsyncClient, app: FastAPI) -> None:
    source = await sandbox_source_id(app)
    for pid in ("d1", "d2"):
        await api.post("/patients", json={"patient_id": pid})
    other = await add_connection(app, patient_id="d2", organization="acme", environment="sandbox", source_id=source)
    # Another patient's connection is not reachable through this patient.
    assert_error(await api.delete(f"/patients/d1/connections/{other}"), 404, "resource_not_found")
    assert_error(await api.delete("/patients/d1/connections/conn_nope"), 404, "resource_not_found")
    assert_error(await api.delete(f"/patients/ghost/connections/{other}"), 404, "resource_not_found")
