"""Disconnect and patient deletion: tokens revoked upstream (RFC 7009) and destroyed, syncs stop,
deletion removes stored records."""

from __future__ import annotations

from datetime import timedelta

import httpx
from ehrconnect.kit.time import utcnow
from ehrconnect.models import Connection, Job, Record, SyncRun
from ehrconnect.worker.scheduler import tick
from sqlalchemy import func, select, update
from worker_support import ALBERTO, Platform


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
