"""Shared helpers for the contract and API suites: exact wire key sets, tenants, fixture rows.

The key sets are written out from docs/api-decisions.md (the wire contract), not derived from
the code, so a renamed or dropped field fails the suite.
"""

from __future__ import annotations

from typing import Any

import httpx
from ehrconnect.catalog.urls import normalize_base_url
from ehrconnect.kit.ids import new_id
from ehrconnect.kit.time import utcnow
from ehrconnect.models import Connection, ConnectSession, FhirSource, Patient
from fastapi import FastAPI
from sqlalchemy import select

ERROR_KEYS = {"type", "code", "message", "param", "doc_url", "request_id"}
LIST_KEYS = {"resource_type", "data", "has_more", "next_cursor"}
PATIENT_KEYS = {"id", "resource_type", "email", "name", "metadata", "created_at"}
PATIENT_DETAIL_KEYS = PATIENT_KEYS | {"connections"}
PATIENT_CONNECTION_KEYS = {
    "id", "resource_type", "session_id", "connection_id", "status", "scopes", "failure_code",
    "failure_at", "created_at", "updated_at", "last_synced_at", "sync_status",
}
SESSION_KEYS = {
    "id", "resource_type", "status", "url", "patient_id", "connection_id", "recommended_connection_ids",
    "return_url", "return_button_label", "connections", "expires_at", "metadata", "created_at",
}
SESSION_CONNECTION_KEYS = {"id", "connection_id", "status", "failure_code", "failure_at", "created_at"}
FHIR_SOURCE_KEYS = {"id", "resource_type", "name", "type", "fhir_base_url", "logo_url", "portal_url"}
#: ehrconnect's additive catalog fields (always present, may be null).
FHIR_SOURCE_EXTRA_KEYS = {"matched_name"}
PATIENT_TOMBSTONE_KEYS = {"id", "resource_type", "deleted"}
CONNECTION_TOMBSTONE_KEYS = {"id", "resource_type", "disconnected"}

RETURN_URL = "https://app.example.com/connected"
ISO_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"


def assert_error(response: httpx.Response, status: int, code: str, param: str | None = None) -> dict[str, Any]:
    """The response is the error envelope with this status and code (and `param` when given)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == ERROR_KEYS, error
    assert error["code"] == code, error
    assert error["request_id"] == response.headers["x-request-id"]
    assert error["doc_url"].endswith(f"/docs/errors#{code}")
    if param is not None:
        assert error["param"] == param, error
    return dict(error)


def assert_fhir_source(item: dict[str, Any]) -> None:
    extra = set(item) - FHIR_SOURCE_KEYS
    assert set(item) >= FHIR_SOURCE_KEYS, item
    assert extra <= FHIR_SOURCE_EXTRA_KEYS | _catalog_additions(), item
    assert item["resource_type"] == "fhir_source" and item["id"].startswith("fhirsrc_")


def _catalog_additions() -> set[str]:
    """Optional fields the catalog adds beyond Medblocks' (the model is the single source)."""
    from ehrconnect.catalog.schemas import FhirSourceOut

    return set(FhirSourceOut.model_fields) - FHIR_SOURCE_KEYS


def authed(app: FastAPI, secret: str) -> httpx.AsyncClient:
    """A client on the same in-process app carrying `secret` (close it, or use `async with`)."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {secret}"},
    )


async def sandbox_source_id(app: FastAPI) -> str:
    """The first seeded sandbox catalog source."""
    async with app.state.ctx.db.session() as session:
        row = (
            await session.execute(
                select(FhirSource).where(FhirSource.environment == "sandbox").order_by(FhirSource.name)
            )
        ).scalars().first()
    assert row is not None
    return str(row.id)


async def add_live_source(app: FastAPI, url: str = "https://fhir.live.example.org/api/FHIR/R4") -> FhirSource:
    """A catalog source in the live environment (the sandbox seed has none)."""
    source = FhirSource(
        id=new_id("fhir_source"), environment="live", normalized_base_url=normalize_base_url(url),
        fhir_base_url=url, name="Live General Hospital", type="epic", search_text="live general hospital",
    )
    async with app.state.ctx.db.session() as session:
        session.add(source)
    return source


async def add_connection(
    app: FastAPI,
    *,
    patient_id: str,
    organization: str,
    environment: str,
    source_id: str,
    session_id: str | None = None,
    status: str = "active",
    failure_code: str | None = None,
) -> str:
    """Insert a connection row for a patient (as the OAuth callback would)."""
    from ehrconnect.models import Organization

    async with app.state.ctx.db.session() as session:
        org = (await session.execute(select(Organization).where(Organization.name == organization))).scalar_one()
        patient = (
            await session.execute(
                select(Patient).where(
                    Patient.organization_id == org.id, Patient.environment == environment,
                    Patient.patient_id == patient_id,
                )
            )
        ).scalar_one()
        source = await session.get(FhirSource, source_id)
        assert source is not None
        now = utcnow()
        row = Connection(
            id=new_id("connection"), organization_id=org.id, environment=environment, patient_pk=patient.pk,
            session_id=session_id, source_id=source_id, fhir_base_url=source.fhir_base_url, status=status,
            scopes=["patient/*.read", "offline_access"] if status != "failed" else [],
            failure_code=failure_code, failure_at=now if status == "failed" else None,
            access_token_encrypted=app.state.ctx.cipher.encrypt("at-secret"),
            refresh_token_encrypted=app.state.ctx.cipher.encrypt("rt-secret"),
            created_at=now, updated_at=now,
        )
        session.add(row)
    return str(row.id)


async def get_connection(app: FastAPI, connection_id: str) -> Connection:
    async with app.state.ctx.db.session() as session:
        row = await session.get(Connection, connection_id)
    assert isinstance(row, Connection)
    return row


async def get_session_row(app: FastAPI, session_id: str) -> ConnectSession:
    async with app.state.ctx.db.session() as session:
        row = await session.get(ConnectSession, session_id)
    assert isinstance(row, ConnectSession)
    return row


async def new_session(api: httpx.AsyncClient, patient_id: str = "user_42", **fields: Any) -> dict[str, Any]:
    """POST /sessions with a valid body; extra fields override."""
    body: dict[str, Any] = {"patient_id": patient_id, "return_url": RETURN_URL, **fields}
    response = await api.post("/sessions", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result
