"""HTTP adapter for /sessions."""

from __future__ import annotations

from fastapi import APIRouter, Request

from ehrconnect.api.context import get_context
from ehrconnect.api.deps import Auth
from ehrconnect.sessions import service as sessions
from ehrconnect.sessions.schemas import SessionCreate, SessionOut

router = APIRouter(tags=["Sessions"])


@router.post("/sessions", response_model=SessionOut, summary="Create a Connect Session")
async def create_session(request: Request, auth: Auth, body: SessionCreate) -> SessionOut:
    ctx = get_context(request)
    async with ctx.db.session() as session:
        row, patient = await sessions.create(session, ctx, auth, body)
        return (await sessions.to_wire(session, ctx, [row], {patient.pk: patient.patient_id}))[0]


@router.get("/sessions/{id}", response_model=SessionOut, summary="Retrieve a Connect Session")
async def get_session(request: Request, auth: Auth, id: str) -> SessionOut:
    ctx = get_context(request)
    async with ctx.db.session() as session:
        row, patient = await sessions.get(session, auth, id)
        return (await sessions.to_wire(session, ctx, [row], {patient.pk: patient.patient_id}))[0]
