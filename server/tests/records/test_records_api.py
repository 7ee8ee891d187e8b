"""GET /patients/{id}/records: paging both ways, filters, cursors stable under new data."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from ehrconnect.kit.ids import new_id
from ehrconnect.kit.time import iso, utcnow
from ehrconnect.models import Connection, FhirSource, Patient
from ehrconnect.records.repository import RecordOwner, mark_deleted, upsert_resources
from ehrconnect.records.service import with_patient_identifier
from fastapi import FastAPI
from sqlalchemy import select


def observation(n: int, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": f"obs-{n}", "status": "final", **extra}


async def seed(app: FastAPI, api: httpx.AsyncClient, patient_id: str = "p1") -> RecordOwner:
    assert (await api.post("/patients", json={"patient_id": patient_id})).status_code == 200
    ctx = app.state.ctx
    async with ctx.db.session() as session:
        patient = (await session.execute(select(Patient).where(Patient.patient_id == patient_id))).scalar_one()
        source = (await session.execute(select(FhirSource).limit(1))).scalar_one()
        conn = Connection(
            id=new_id("connection"), organization_id=patient.organization_id, environment=patient.environment,
            patient_pk=patient.pk, source_id=source.id, fhir_base_url=source.fhir_base_url, status="active",
            scopes=[], fhir_patient_id="fhir-1",
        )
        session.add(conn)
        await session.flush()
        return RecordOwner(patient.organization_id, patient.environment, patient.pk, conn.id, source.id)


async def store(app: FastAPI, owner: RecordOwner, resources: list[dict[str, Any]]) -> None:
    async with app.state.ctx.db.session() as session:
        await upsert_resources(session, owner, resources, utcnow())


async def page(api: httpx.AsyncClient, patient_id: str = "p1", **params: Any) -> dict[str, Any]:
    response = await api.get(f"/patients/{patient_id}/records", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ids(body: dict[str, Any]) -> list[str]:
    return [item["resource"]["id"] for item in body["data"]]


async def test_pages_forward_and_backward(app: FastAPI, api: httpx.AsyncClient) -> None:
    owner = await seed(app, api)
    patient = {"resourceType": "Patient", "id": "fhir-1", "identifier": [{"system": "urn:x", "value": "1"}]}
    await store(app, owner, [patient] + [observation(i) for i in range(30)])
    first = await page(api, count=7)
    assert first["resource_type"] == "list" and first["patient_id"] == "p1"
    assert first["previous_cursor"] is None and first["has_more"] is True
    assert len(first["next_cursor"]) == 12
    assert first["data"][0]["source"].startswith("fhirsrc_")
    identifiers = first["data"][0]["resource"]["identifier"]
    assert {"system": "urn:ehrconnect:patient-id", "value": "p1"} in identifiers
    assert {"system": "urn:x", "value": "1"} in identifiers

    forward: list[list[str]] = [ids(first)]
    body = first
    while body["has_more"]:
        body = await page(api, count=7, starting_after=body["next_cursor"])
        assert body["previous_cursor"] is not None
        forward.append(ids(body))
    flat = [i for chunk in forward for i in chunk]
    assert flat == ["fhir-1"] + [f"obs-{i}" for i in range(30)]
    assert body["next_cursor"] is None

    backward: list[list[str]] = [ids(body)]
    while body["previous_cursor"] is not None:
        body = await page(api, count=7, ending_before=body["previous_cursor"])
        assert body["next_cursor"] is not None
        backward.append(ids(body))
    assert [i for chunk in reversed(backward) for i in chunk] == flat
    assert body["has_more"] is False


async def test_cursors_stay_stable_when_new_data_arrives(app: FastAPI, api: httpx.AsyncClient) -> None:
    owner = await seed(app, api)
    await store(app, owner, [observation(i) for i in range(20)])
    first = await page(api, count=5)
    expected_second = ids(await page(api, count=5, starting_after=first["next_cursor"]))
    # New resources and a changed old one arrive between page reads.
    await store(app, owner, [observation(100 + i) for i in range(5)] + [observation(7, status="amended")])
    second = await page(api, count=5, starting_after=first["next_cursor"])
    assert ids(second) == expected_second
    assert second["data"][2]["resource"]["status"] == "amended"  # obs-7: updated in place
    everything = await page(api, count=100)
    assert ids(everything)[-5:] == [f"obs-{100 + i}" for i in range(5)]
    before = await page(api, count=5, ending_before=second["previous_cursor"])
    assert ids(before) == ids(first)


async def test_type_and_since_filters_and_deleted_records(app: FastAPI, api: httpx.AsyncClient) -> None:
    owner = await seed(app, api)
    await store(app, owner, [observation(i) for i in range(3)] + [{"resourceType": "Condition", "id": "c1"}])
    checkpoint = utcnow()
    await store(app, owner, [observation(1, status="amended"), {"resourceType": "Condition", "id": "c2"}])
    assert ids(await page(api, type="Condition")) == ["c1", "c2"]
    assert ids(await page(api, type="Observation,Condition", count=2)) == ["obs-0", "obs-1"]
    assert ids(await page(api, since=iso(checkpoint))) == ["obs-1", "c2"]
    assert ids(await page(api, since=(checkpoint - timedelta(days=2)).date().isoformat())) == [
        "obs-0", "obs-1", "obs-2", "c1", "c2",
    ]
    async with app.state.ctx.db.session() as session:
        await mark_deleted(session, owner.connection_id, not_seen_since=checkpoint, now=utcnow())
    assert ids(await page(api)) == ["obs-1", "c2"]


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"starting_after": "not-a-cursor"}, "starting_after"),
        ({"ending_before": "aB3xK9mQp2Lz"}, "ending_before"),
        ({"type": "observation"}, "type"),
        ({"type": "Observation,"}, None),
        ({"since": "yesterday"}, "since"),
        ({"count": 0}, "count"),
        ({"count": 101}, "count"),
    ],
)
async def test_invalid_parameters(
    app: FastAPI, api: httpx.AsyncClient, params: dict[str, Any], param: str | None
) -> None:
    owner = await seed(app, api)
    await store(app, owner, [observation(1)])
    response = await api.get("/patients/p1/records", params=params)
    if param is None:  # a trailing comma is harmless
        assert response.status_code == 200
        return
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_data" and error["param"] == param


async def test_cursor_rules(app: FastAPI, api: httpx.AsyncClient) -> None:
    owner = await seed(app, api, "p1")
    other = await seed(app, api, "p2")
    await store(app, owner, [observation(i) for i in range(4)])
    await store(app, other, [observation(i) for i in range(4)])
    cursor = (await page(api, "p1", count=2))["next_cursor"]
    both = await api.get("/patients/p1/records", params={"starting_after": cursor, "ending_before": cursor})
    assert both.status_code == 400
    # A cursor belongs to its patient.
    foreign = await api.get("/patients/p2/records", params={"starting_after": cursor})
    assert foreign.status_code == 400 and foreign.json()["error"]["param"] == "starting_after"
    tampered = cursor[:-1] + ("A" if cursor[-1] != "A" else "B")
    assert (await api.get("/patients/p1/records", params={"starting_after": tampered})).status_code == 400


async def test_records_are_tenant_scoped(app: FastAPI, api: httpx.AsyncClient, make_key: Any) -> None:
    owner = await seed(app, api)
    await store(app, owner, [observation(1)])
    api.headers["Authorization"] = f"Bearer {await make_key('other-org', 'sandbox')}"
    response = await api.get("/patients/p1/records")
    assert response.status_code == 404
    assert (await api.get("/patients/p1/connections/conn_x/sync-runs")).status_code == 404


async def test_empty_record_list(app: FastAPI, api: httpx.AsyncClient) -> None:
    await seed(app, api)
    body = await page(api)
    assert body == {
        "resource_type": "list", "patient_id": "p1", "data": [], "has_more": False,
        "next_cursor": None, "previous_cursor": None,
    }


@pytest.mark.parametrize(
    "sent",
    [None, 42, "x", {"system": "urn:x", "value": "1"}, [], [{"system": "urn:x", "value": "1"}, 7]],
    ids=["null", "number", "string", "object", "empty", "list"],
)
def test_patient_identifier_tolerates_any_source_value(sent: Any) -> None:
    served = with_patient_identifier({"resourceType": "Patient", "id": "f", "identifier": sent}, "p1")
    ours = [
        {"system": "urn:ehrconnect:patient-id", "value": "p1"},
        {"system": "urn:medblocks:patient-id", "value": "p1"},
    ]
    kept = sent if isinstance(sent, list) else []
    assert served["identifier"] == kept + ours
    assert with_patient_identifier({"resourceType": "Patient"}, "p1")["identifier"] == ours


def test_patient_identifier_replaces_both_systems() -> None:
    sent = [
        {"system": "urn:medblocks:patient-id", "value": "forged"},
        {"system": "urn:ehrconnect:patient-id", "value": "forged"},
        {"system": "urn:x", "value": "1"},
    ]
    served = with_patient_identifier({"resourceType": "Patient", "identifier": sent}, "p1")
    assert served["identifier"] == [
        {"system": "urn:x", "value": "1"},
        {"system": "urn:ehrconnect:patient-id", "value": "p1"},
        {"system": "urn:medblocks:patient-id", "value": "p1"},
    ]


async def test_patient_with_null_identifier_is_served(app: FastAPI, api: httpx.AsyncClient) -> None:
    owner = await seed(app, api)
    await store(app, owner, [{"resourceType": "Patient", "id": "fhir-1", "identifier": None}])
    body = await page(api)
    assert body["data"][0]["resource"]["identifier"] == [
        {"system": "urn:ehrconnect:patient-id", "value": "p1"},
        {"system": "urn:medblocks:patient-id", "value": "p1"},
    ]


@pytest.mark.parametrize("meta", ["x", 5, [], None, {"lastUpdated": 7}], ids=["str", "int", "list", "null", "bad"])
async def test_malformed_meta_is_stored_without_crashing(app: FastAPI, api: httpx.AsyncClient, meta: Any) -> None:
    owner = await seed(app, api)
    await store(app, owner, [observation(1, meta=meta), "not a resource"])  # type: ignore[list-item]
    assert ids(await page(api)) == ["obs-1"]
