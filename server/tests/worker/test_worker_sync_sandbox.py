"""Background pull against the sandbox EHR as a real server: the stored records equal the
sandbox's data for the patient, type by type and id by id, on every profile's behaviour."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import timedelta
from typing import Any

import pytest
from ehrconnect.kit.time import utcnow
from ehrconnect.models import Connection, Job, Record, SyncRun
from ehrconnect.records.service import PATIENT_ID_SYSTEMS
from ehrconnect.sandbox_ehr.data import get_dataset
from ehrconnect.worker import fetch
from ehrconnect.worker.scheduler import tick
from ehrconnect.worker.sync import SyncEngine
from ehrconnect.worker.tokens import TokenManager
from sqlalchemy import func, select, update
from worker_support import ALBERTO, LARGE, Platform, make_platform, platform_settings


def sandbox_truth(fhir_patient_id: str) -> dict[str, dict[str, dict[str, Any]]]:
    """The sandbox's data for a patient: type -> id -> resource."""
    record = get_dataset([LARGE]).patients[fhir_patient_id]
    return {rtype: {r["id"]: r for r in resources} for rtype, resources in record.by_type.items()}


async def all_records(platform: Platform, patient_id: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"starting_after": cursor} if cursor else {})}
        response = await platform.api.get(f"/patients/{patient_id}/records", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body["data"])
        if not body["has_more"]:
            assert body["next_cursor"] is None
            return items
        cursor = body["next_cursor"]


def by_type(items: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    grouped: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for item in items:
        resource = item["resource"]
        assert resource["id"] not in grouped[resource["resourceType"]], "duplicate record"
        grouped[resource["resourceType"]][resource["id"]] = resource
    return dict(grouped)


def without_our_identifier(resource: dict[str, Any]) -> dict[str, Any]:
    if resource["resourceType"] != "Patient":
        return resource
    ours = [i for i in resource["identifier"] if i.get("system") in PATIENT_ID_SYSTEMS]
    assert [i["system"] for i in ours] == list(PATIENT_ID_SYSTEMS) and ours[0]["value"] == ours[1]["value"]
    rest = [i for i in resource["identifier"] if i.get("system") not in PATIENT_ID_SYSTEMS]
    copy = {**resource, "identifier": rest}
    if not rest:
        del copy["identifier"]
    return copy


async def assert_matches_sandbox(platform: Platform, patient_id: str, fhir_patient_id: str) -> None:
    items = await all_records(platform, patient_id)
    got = by_type(items)
    truth = sandbox_truth(fhir_patient_id)
    assert sorted(got) == sorted(truth)
    for rtype, resources in truth.items():
        assert sorted(got[rtype]) == sorted(resources), rtype
        for rid, resource in resources.items():
            assert without_our_identifier(got[rtype][rid]) == resource
    assert {item["source"] for item in items} == {items[0]["source"]}
    assert items[0]["source"].startswith("fhirsrc_")


@pytest.mark.parametrize("use_everything", [True, False], ids=["everything", "per-type"])
async def test_records_equal_sandbox_data(
    db_url: str, tmp_path: Any, sandbox_root: str, use_everything: bool
) -> None:
    platform = await make_platform(
        platform_settings(db_url, tmp_path, sandbox_root, sync_use_everything=use_everything), sandbox_root
    )
    try:
        connected = await platform.connect(ALBERTO, patient_id="alberto")
        await platform.drain()
        await assert_matches_sandbox(platform, "alberto", connected.fhir_patient_id)

        patient = (await platform.api.get("/patients/alberto")).json()
        (conn,) = patient["connections"]
        assert conn["status"] == "active"
        assert conn["sync_status"] == "succeeded"
        assert conn["last_synced_at"] is not None
        runs = (await platform.api.get(f"/patients/alberto/connections/{connected.connection_id}/sync-runs")).json()
        (run,) = runs["data"]
        assert run["resource_type"] == "sync_run"
        assert run["status"] == "succeeded" and run["mode"] == "full" and run["errors"] == []
        assert sum(run["counts"].values()) == sum(len(v) for v in sandbox_truth(connected.fhir_patient_id).values())
        assert run["duration_ms"] >= 0 and run["finished_at"] >= run["started_at"]

        # A second (incremental) pass changes nothing and stores nothing twice.
        async with platform.ctx.db.session() as session:
            await session.execute(update(Connection).values(next_sync_at=utcnow() - timedelta(seconds=1)))
        assert (await tick(platform.ctx)).syncs_enqueued == 1
        await platform.drain()
        await assert_matches_sandbox(platform, "alberto", connected.fhir_patient_id)
        runs = (await platform.api.get(f"/patients/alberto/connections/{connected.connection_id}/sync-runs")).json()
        assert [r["mode"] for r in runs["data"]] == ["incremental", "full"]
        assert runs["data"][0]["status"] == "succeeded"
    finally:
        await platform.api.aclose()
        await platform.ctx.http.aclose()
        await platform.ctx.db.dispose()


async def test_full_pass_marks_resources_deleted_at_source(platform: Platform) -> None:
    connected = await platform.connect(ALBERTO, patient_id="alberto")
    await platform.drain()
    # A resource the source no longer has: stored earlier, not seen by the next full pass.
    async with platform.ctx.db.session() as session:
        query = select(Record).where(Record.resource_type == "Observation").limit(1)
        ghost = (await session.execute(query)).scalar_one()
        ghost_id = ghost.resource_id
        ghost.resource_id = "gone-at-source"
        await session.execute(update(Connection).values(next_sync_at=utcnow(), sync_count=0))
    await tick(platform.ctx)
    await platform.drain()
    ids = {i["resource"]["id"] for i in await all_records(platform, "alberto", type="Observation")}
    assert "gone-at-source" not in ids and ghost_id in ids
    runs = (await platform.api.get(f"/patients/alberto/connections/{connected.connection_id}/sync-runs")).json()
    assert runs["data"][0]["mode"] == "full"
    assert runs["data"][0]["deleted"] == {"Observation": 1}


async def test_flaky_source_completes_without_duplicates(platform: Platform) -> None:
    connected = await platform.connect("ammie.huels", profile="flaky", patient_id="ammie")
    await platform.drain(max_seconds=240)
    await assert_matches_sandbox(platform, "ammie", connected.fhir_patient_id)
    async with platform.ctx.db.session() as session:
        rows = await session.scalar(select(func.count()).select_from(Record))
        run = (await session.execute(select(SyncRun))).scalar_one()
    assert rows == sum(len(v) for v in sandbox_truth(connected.fhir_patient_id).values())
    assert run.status == "succeeded"


async def test_short_token_refreshes_mid_sync(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    # Pages take 0.2 s each, so the 2-second tokens of the short-token profile must be refreshed
    # several times during the 20-page pull, however fast the machine is.
    original_get = fetch.get_with_retries
    refreshed_during: list[int] = []
    pages: list[int] = []

    async def slow_get(*args: Any) -> dict[str, Any]:
        await asyncio.sleep(0.2)
        found = await original_get(*args)
        pages.append(1)
        return found

    original_refresh = TokenManager._refresh

    async def counting_refresh(self: TokenManager, *args: Any) -> Any:
        refreshed_during.append(len(pages))  # pages fetched so far when a refresh starts
        return await original_refresh(self, *args)

    monkeypatch.setattr(fetch, "get_with_retries", slow_get)
    monkeypatch.setattr(TokenManager, "_refresh", counting_refresh)
    connected = await platform.connect(f"large{LARGE}", profile="short-token", patient_id="big")
    async with platform.ctx.db.session() as session:
        before = await session.get(Connection, connected.connection_id)
        assert before is not None
        original = (before.access_token_encrypted, before.refresh_token_encrypted)
    await platform.drain()
    async with platform.ctx.db.session() as session:
        after = await session.get(Connection, connected.connection_id)
        assert after is not None and after.status == "active"
        count = await session.scalar(select(func.count()).select_from(Record))
    # Rotated: both tokens were replaced (the sandbox issues a new refresh token each time).
    assert after.access_token_encrypted != original[0]
    assert after.refresh_token_encrypted != original[1]
    decrypt = platform.ctx.cipher.decrypt
    assert decrypt(after.refresh_token_encrypted or "") != decrypt(original[1] or "")
    assert count == LARGE
    assert any(0 < fetched < len(pages) for fetched in refreshed_during), (refreshed_during, len(pages))


async def test_refresh_revoked_marks_refresh_failed(platform: Platform) -> None:
    connected = await platform.connect(ALBERTO, profile="refresh-revoked", patient_id="alberto")
    async with platform.ctx.db.session() as session:
        # The access token is about to expire: the pull must refresh first.
        await session.execute(
            update(Connection).values(
                token_expires_at=utcnow() + timedelta(seconds=5), token_issued_at=utcnow() - timedelta(hours=1)
            )
        )
    await platform.drain()
    patient = (await platform.api.get("/patients/alberto")).json()
    (conn,) = patient["connections"]
    assert conn["status"] == "refresh_failed"
    assert conn["failure_code"] == "token_refresh_failed" and conn["failure_at"] is not None
    assert conn["sync_status"] == "failed"
    async with platform.ctx.db.session() as session:
        row = await session.get(Connection, connected.connection_id)
        assert row is not None
        assert row.access_token_encrypted is None and row.refresh_token_encrypted is None
        assert row.next_sync_at is None
    # No further syncs: the scheduler skips it and a manual request is refused.
    assert (await tick(platform.ctx, utcnow() + timedelta(days=30))).syncs_enqueued == 0
    response = await platform.api.post(f"/patients/alberto/connections/{connected.connection_id}/sync")
    assert response.status_code == 409


async def test_no_offline_pulls_once_then_expires(platform: Platform) -> None:
    connected = await platform.connect(ALBERTO, profile="no-offline", patient_id="alberto")
    await platform.drain()
    await assert_matches_sandbox(platform, "alberto", connected.fhir_patient_id)
    async with platform.ctx.db.session() as session:
        row = await session.get(Connection, connected.connection_id)
        assert row is not None and row.refresh_token_encrypted is None
        assert row.status == "active" and row.next_sync_at is None and row.token_expires_at is not None
        expires = row.token_expires_at
    assert (await tick(platform.ctx, expires - timedelta(seconds=1))).connections_expired == 0
    report = await tick(platform.ctx, expires + timedelta(seconds=1))
    assert report.connections_expired == 1 and report.syncs_enqueued == 0
    (conn,) = (await platform.api.get("/patients/alberto")).json()["connections"]
    assert conn["status"] == "expired" and conn["failure_code"] == "token_expired"
    runs = (await platform.api.get(f"/patients/alberto/connections/{connected.connection_id}/sync-runs")).json()
    assert len(runs["data"]) == 1


async def test_no_offline_with_unknown_lifetime_expires_after_its_pull(platform: Platform) -> None:
    connected = await platform.connect(ALBERTO, profile="no-offline", patient_id="alberto")
    async with platform.ctx.db.session() as session:
        await session.execute(update(Connection).values(token_expires_at=None))
    await platform.drain()
    (conn,) = (await platform.api.get("/patients/alberto")).json()["connections"]
    assert conn["status"] == "expired" and conn["sync_status"] == "succeeded"
    assert len(await all_records(platform, "alberto")) == len(
        [r for rs in sandbox_truth(connected.fhir_patient_id).values() for r in rs]
    )


async def test_a_failing_last_attempt_closes_the_run(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(self: SyncEngine) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(SyncEngine, "execute", broken)
    connected = await platform.connect(ALBERTO, patient_id="alberto")
    async with platform.ctx.db.session() as session:
        await session.execute(update(Job).values(attempts=Job.max_attempts - 1))
    await platform.drain()
    async with platform.ctx.db.session() as session:
        job = (await session.execute(select(Job))).scalar_one()
        run = (await session.execute(select(SyncRun))).scalar_one()
        conn = await session.get(Connection, connected.connection_id)
    assert job.status == "failed" and job.last_error == "RuntimeError"
    assert run.status == "failed" and run.errors[-1]["code"] == "internal_error"
    assert conn is not None and conn.status == "active" and conn.sync_status == "failed"
    assert conn.next_sync_at is not None  # tried again after the interval
