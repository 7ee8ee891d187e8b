"""Disconnect and patient deletion: tokens revoked upstream (RFC 7009) and destroyed, syncs stop,
deletion removes stored records."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import httpx
import pytest
from ehrconnect.connections import service as connections_service
from ehrconnect.kit.time import utcnow
from ehrconnect.models import Connection, Job, Record, SyncRun
from ehrconnect.worker.scheduler import tick
from sqlalchemy import func, select, update
from worker_support import ALBERTO, HangingServer, Platform


async def fhir_status(base: str, token: str, patient: str) -> int:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{base}/Patient/{patient}", headers={"Authorization": f"Bearer {token}"})
        return response.status_code


async def tokens_of(platform: Platform, connection_id: str) -> tuple[str, str]:
    async with platform.ctx.db.session() as session:
        row = await session.get(Connection, connection_id)
        assert row is not None and row.access_token_encrypted and row.refresh_token_encrypted
        cipher = platform.ctx.cipher
        return cipher.decrypt(row.access_token_encrypted), cipher.decrypt(row.refresh_token_encrypted)


async def test_disconnect_revokes_upstream_and_stops_syncs(platform: Platform) -> None:
    connected = await platform.connect(ALBERTO, patient_id="alberto")
    await platform.drain()
    access, _ = await tokens_of(platform, connected.connection_id)
    base = f"{platform.sandbox_root}/normal/fhir"
    assert await fhir_status(base, access, connected.fhir_patient_id) == 200
    # A pull is queued when the disconnect comes in.
    response = await platform.api.post(f"/patients/alberto/connections/{connected.connection_id}/sync")
    assert response.status_code == 200 and response.json()["sync_requested"] is True

    response = await platform.api.delete(f"/patients/alberto/connections/{connected.connection_id}")
    assert response.status_code == 200
    assert response.json() == {"id": connected.connection_id, "resource_type": "connection", "disconnected": True}
    assert await fhir_status(base, access, connected.fhir_patient_id) == 401  # revoked at the source
    async with platform.ctx.db.session() as session:
        row = await session.get(Connection, connected.connection_id)
        assert row is not None and row.status == "disconnected"
        assert row.access_token_encrypted is None and row.refresh_token_encrypted is None
        jobs = (await session.execute(select(Job.status))).scalars().all()
        await session.execute(update(Connection).values(next_sync_at=utcnow() - timedelta(seconds=1)))
    assert "queued" not in jobs
    assert (await tick(platform.ctx)).syncs_enqueued == 0
    # Records already pulled stay readable.
    records = (await platform.api.get("/patients/alberto/records")).json()
    assert records["data"]


async def test_disconnect_survives_an_unreachable_revocation_endpoint(platform: Platform) -> None:
    connected = await platform.connect(ALBERTO, patient_id="alberto")
    async with platform.ctx.db.session() as session:
        await session.execute(update(Connection).values(revocation_endpoint="http://127.0.0.1:9/revoke"))
    response = await platform.api.delete(f"/patients/alberto/connections/{connected.connection_id}")
    assert response.status_code == 200
    async with platform.ctx.db.session() as session:
        row = await session.get(Connection, connected.connection_id)
        assert row is not None and row.status == "disconnected" and row.refresh_token_encrypted is None


async def test_delete_patient_revokes_and_removes_records(platform: Platform) -> None:
    connected = await platform.connect(ALBERTO, patient_id="alberto")
    await platform.drain()
    access, refresh = await tokens_of(platform, connected.connection_id)
    async with platform.ctx.db.session() as session:
        assert (await session.scalar(select(func.count()).select_from(Record)) or 0) > 0
    response = await platform.api.delete("/patients/alberto")
    assert response.status_code == 200 and response.json()["deleted"] is True
    assert await fhir_status(f"{platform.sandbox_root}/normal/fhir", access, connected.fhir_patient_id) == 401
    async with platform.ctx.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Record)) == 0
        assert await session.scalar(select(func.count()).select_from(SyncRun)) == 0
        assert await session.scalar(select(func.count()).select_from(Connection)) == 0
    assert (await platform.api.get("/patients/alberto/records")).status_code == 404
    # The refresh token is dead too.
    async with httpx.AsyncClient() as http:
        grant = await http.post(
            f"{platform.sandbox_root}/normal/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": refresh, "client_id": "ehrconnect-sandbox"},
        )
    assert grant.status_code == 400 and grant.json()["error"] == "invalid_grant"


async def _write_while_revoking(platform: Platform, hanging: HangingServer, connection_id: str) -> None:
    """While the revocation hangs: a write to the same connection row and an API write both
    complete (no transaction or lock is held across the EHR call)."""
    await asyncio.wait_for(hanging.hit.wait(), 5)

    async def touch() -> None:
        async with platform.ctx.db.session() as session:
            await session.execute(
                update(Connection).where(Connection.id == connection_id).values(updated_at=utcnow())
            )

    await asyncio.wait_for(touch(), 1.0)
    created = await asyncio.wait_for(platform.api.post("/patients", json={"patient_id": "other"}), 1.0)
    assert created.status_code == 200


async def test_disconnect_does_not_hold_the_database_during_revocation(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connections_service, "REVOCATION_TIMEOUT", httpx.Timeout(2.0))
    connected = await platform.connect(ALBERTO, patient_id="alberto")
    hanging = HangingServer()
    async with hanging as revoke_url:
        async with platform.ctx.db.session() as session:
            await session.execute(update(Connection).values(revocation_endpoint=revoke_url))
        deleting = asyncio.create_task(
            platform.api.delete(f"/patients/alberto/connections/{connected.connection_id}")
        )
        await _write_while_revoking(platform, hanging, connected.connection_id)
        assert not deleting.done()  # the revocation is still in progress
        response = await asyncio.wait_for(deleting, 10)
    assert response.status_code == 200
    assert response.json() == {"id": connected.connection_id, "resource_type": "connection", "disconnected": True}
    async with platform.ctx.db.session() as session:
        row = await session.get(Connection, connected.connection_id)
        assert row is not None and row.status == "disconnected"
        assert row.access_token_encrypted is None and row.refresh_token_encrypted is None


async def test_delete_patient_revocation_is_bounded_and_outside_the_transaction(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connections_service, "REVOCATION_DEADLINE_SECONDS", 2.0, raising=False)
    connected = await platform.connect(ALBERTO, patient_id="alberto")
    hanging = HangingServer()
    async with hanging as revoke_url:
        async with platform.ctx.db.session() as session:
            await session.execute(update(Connection).values(revocation_endpoint=revoke_url))
        started = time.monotonic()
        deleting = asyncio.create_task(platform.api.delete("/patients/alberto"))
        await _write_while_revoking(platform, hanging, connected.connection_id)
        assert not deleting.done()
        response = await asyncio.wait_for(deleting, 10)
        elapsed = time.monotonic() - started
    assert response.status_code == 200 and response.json() == {
        "id": "alberto", "resource_type": "patient", "deleted": True
    }
    assert elapsed < 4.0  # the deadline cut the 5-second-per-call revocation short
    assert (await platform.api.get("/patients/alberto")).status_code == 404
