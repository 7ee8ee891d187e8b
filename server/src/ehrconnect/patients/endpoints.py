"""HTTP adapter for /patients. Owns the transactions; rules live in the services."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from ehrconnect.api.context import get_context
from ehrconnect.api.deps import Auth
from ehrconnect.api.schemas import CursorQuery, LimitQuery, ListResponse, cursor_key
from ehrconnect.connections import repository as connections_repo
from ehrconnect.connections import service as connections
from ehrconnect.connections.wire import patient_connection
from ehrconnect.kit.pagination import encode_cursor
from ehrconnect.kit.time import iso
from ehrconnect.models import Patient
from ehrconnect.patients import repository
from ehrconnect.patients import service as patients
from ehrconnect.patients.schemas import (
    ConnectionDisconnected,
    PatientCreate,
    PatientDeleted,
    PatientDetailOut,
    PatientOut,
    PatientReplace,
)
from ehrconnect.sessions import service as sessions
from ehrconnect.sessions.schemas import SessionOut

router = APIRouter(tags=["Patients"])


def patient_out(patient: Patient) -> PatientOut:
    return PatientOut(
        id=patient.patient_id,
        email=patient.email,
        name=patient.name,
        metadata=patient.metadata_ or {},
        created_at=iso(patient.created_at) or "",
    )


@router.post("/patients", response_model=PatientOut, summary="Create a patient")
async def create_patient(request: Request, auth: Auth, body: PatientCreate) -> PatientOut:
    ctx = get_context(request)
    async with ctx.db.session() as session:
        patient = await patients.create(
            session, auth, patient_id=body.patient_id, email=body.email, name=body.name, metadata=body.metadata
        )
        return patient_out(patient)


@router.get("/patients", response_model=ListResponse[PatientOut], summary="List patients")
async def list_patients(
    request: Request,
    auth: Auth,
    limit: LimitQuery = 10,
    starting_after: CursorQuery = None,
    patient_id: Annotated[str | None, Query(max_length=200)] = None,
    email: Annotated[str | None, Query(max_length=320)] = None,
) -> ListResponse[PatientOut]:
    ctx = get_context(request)
    async with ctx.db.read_session() as session:
        page = await repository.list_page(
            session, auth, limit=limit, before_pk=cursor_key(starting_after),
            patient_id=patient_id, email=email,
        )
    return ListResponse[PatientOut](
        data=[patient_out(p) for p in page.items],
        has_more=page.has_more,
        next_cursor=page.next_cursor(lambda p: p.pk),
    )


@router.get("/patients/{id}", response_model=PatientDetailOut, summary="Retrieve a patient")
async def get_patient(request: Request, auth: Auth, id: str) -> PatientDetailOut:
    ctx = get_context(request)
    async with ctx.db.read_session() as session:
        patient = await patients.require(session, auth, id)
        rows = await connections_repo.for_patient(session, patient.pk)
        return PatientDetailOut(
            **patient_out(patient).model_dump(), connections=[patient_connection(r) for r in rows]
        )


@router.put("/patients/{id}", response_model=PatientOut, summary="Replace a patient")
async def replace_patient(request: Request, auth: Auth, id: str, body: PatientReplace) -> PatientOut:
    ctx = get_context(request)
    async with ctx.db.session() as session:
        patient = await patients.replace(
            session, auth, id, patient_id=body.patient_id, email=body.email, name=body.name,
            metadata=body.metadata,
        )
        return patient_out(patient)


@router.delete("/patients/{id}", response_model=PatientDeleted, summary="Delete a patient and everything of theirs")
async def delete_patient(request: Request, auth: Auth, id: str) -> PatientDeleted:
    ctx = get_context(request)
    async with ctx.db.session() as session:
        patient = await patients.require(session, auth, id)
        revocations = await connections.delete_patient(session, ctx, patient)
    await connections.revoke_pending(ctx, revocations)  # after commit: no lock held on the EHR call
    return PatientDeleted(id=id)


@router.get("/patients/{id}/sessions", response_model=ListResponse[SessionOut], summary="List a patient's sessions")
async def list_patient_sessions(
    request: Request,
    auth: Auth,
    id: str,
    limit: LimitQuery = 10,
    starting_after: CursorQuery = None,
    status: Literal["open", "complete", "expired"] | None = None,
) -> ListResponse[SessionOut]:
    ctx = get_context(request)
    async with ctx.db.session() as session:
        patient = await patients.require(session, auth, id)
        page = await sessions.list_for_patient(
            session, patient, status=status, limit=limit, before_id=cursor_key(starting_after)
        )
        data = await sessions.to_wire(session, ctx, page.items, {patient.pk: patient.patient_id})
    return ListResponse[SessionOut](
        data=data, has_more=page.has_more,
        next_cursor=encode_cursor(page.items[-1].id) if page.has_more and page.items else None,
    )


@router.delete(
    "/patients/{id}/connections/{conn_id}",
    response_model=ConnectionDisconnected,
    summary="Disconnect one of a patient's connections",
)
async def disconnect(request: Request, auth: Auth, id: str, conn_id: str) -> ConnectionDisconnected:
    ctx = get_context(request)
    async with ctx.db.session() as session:
        patient = await patients.require(session, auth, id)
        revocations = await connections.disconnect(session, ctx, patient, conn_id)
    await connections.revoke_pending(ctx, revocations)  # after commit: no lock held on the EHR call
    return ConnectionDisconnected(id=conn_id)
