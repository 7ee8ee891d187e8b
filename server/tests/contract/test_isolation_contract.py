"""Tenant and environment isolation: org A vs org B, sandbox vs live, on every route.

Another tenant's object answers 404 (never 403) and is left untouched. The FHIR source catalog is
shared by every organization of one environment, so only the environment splits it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import quote

import httpx
import pytest
from contract_kit import RETURN_URL, add_connection, assert_error, authed, new_session, sandbox_source_id
from fastapi import FastAPI


@dataclass
class World:
    owner: httpx.AsyncClient
    #: (label, client) for every tenant that is not the owner (acme/sandbox).
    others: list[tuple[str, httpx.AsyncClient]]
    session_id: str
    connection_id: str
    source_id: str


@pytest.fixture
async def world(app: FastAPI, make_key: object) -> AsyncIterator[World]:
    keys = {
        label: await make_key(org, env)  # type: ignore[operator]
        for label, org, env in [
            ("owner", "acme", "sandbox"), ("other-org", "globex", "sandbox"),
            ("other-env", "acme", "live"), ("other-both", "globex", "live"),
        ]
    }
    clients = {label: authed(app, secret) for label, secret in keys.items()}
    try:
        owner = clients["owner"]
        source = await sandbox_source_id(app)
        session = await new_session(owner, "shared_id", patient_email="a@example.com", connection_id=source)
        conn = await add_connection(
            app, patient_id="shared_id", organization="acme", environment="sandbox", source_id=source,
            session_id=session["id"],
        )
        yield World(owner, [(k, v) for k, v in clients.items() if k != "owner"], session["id"], conn, source)
    finally:
        for client in clients.values():
            await client.aclose()


async def _owner_view(world: World) -> tuple[int, str]:
    patient = await world.owner.get("/patients/shared_id")
    assert patient.status_code == 200
    return len(patient.json()["connections"]), patient.json()["connections"][0]["status"]


async def test_object_routes_answer_404_to_other_tenants(world: World) -> None:
    before = await _owner_view(world)
    calls = [
        ("GET", "/patients/shared_id", None),
        ("PUT", "/patients/shared_id", {"patient_id": "shared_id", "name": "Hijack"}),
        ("GET", "/patients/shared_id/sessions", None),
        ("DELETE", f"/patients/shared_id/connections/{world.connection_id}", None),
        ("GET", f"/sessions/{world.session_id}", None),
        ("DELETE", "/patients/shared_id", None),
    ]
    for label, client in world.others:
        for method, path, body in calls:
            response = await client.request(method, path, json=body)
            assert_error(response, 404, "resource_not_found")
            assert response.status_code != 403, (label, method, path)
    assert await _owner_view(world) == before
    assert (await world.owner.get("/patients/shared_id")).json()["name"] is None


async def test_lists_never_show_other_tenants(world: World) -> None:
    for _label, client in world.others:
        assert (await client.get("/patients")).json()["data"] == []
        filtered = await client.get("/patients", params={"patient_id": "shared_id"})
        assert filtered.json()["data"] == []
        assert (await client.get("/patients", params={"email": "a@example.com"})).json()["data"] == []


async def test_same_patient_id_is_a_separate_patient_per_tenant(world: World) -> None:
    for label, client in world.others:
        created = await client.post("/patients", json={"patient_id": "shared_id", "name": label})
        assert created.status_code == 200, created.text
        detail = (await client.get("/patients/shared_id")).json()
        assert detail["name"] == label and detail["connections"] == []
        sessions = (await client.get("/patients/shared_id/sessions")).json()["data"]
        assert sessions == []
    assert (await world.owner.get("/patients/shared_id")).json()["name"] is None


async def test_sessions_for_another_tenants_patient_id_do_not_touch_it(world: World) -> None:
    for _label, client in world.others:
        response = await client.post("/sessions", json={"patient_id": "shared_id", "return_url": RETURN_URL,
                                                        "patient_email": "evil@example.com"})
        assert response.status_code == 200
    owner_patient = (await world.owner.get("/patients/shared_id")).json()
    assert owner_patient["email"] == "a@example.com"
    assert len((await world.owner.get("/patients/shared_id/sessions")).json()["data"]) == 1


async def test_catalog_is_split_by_environment_only(world: World) -> None:
    base_url = (await world.owner.get(f"/connections/{world.source_id}")).json()["fhir_base_url"]
    for label, client in world.others:
        by_id = await client.get(f"/connections/{world.source_id}")
        by_url = await client.get("/connections/" + quote(base_url, safe=""))
        listed = {s["id"] for s in (await client.get("/connections", params={"limit": 100})).json()["data"]}
        if label == "other-org":  # same environment: the same shared catalog
            assert by_id.status_code == 200 and by_url.status_code == 200
            assert world.source_id in listed
        else:
            assert_error(by_id, 404, "resource_not_found")
            assert_error(by_url, 404, "resource_not_found")
            assert world.source_id not in listed
            direct = await client.post(
                "/sessions", json={"patient_id": "x", "return_url": RETURN_URL, "connection_id": world.source_id}
            )
            assert_error(direct, 404, "resource_not_found", "connection_id")
