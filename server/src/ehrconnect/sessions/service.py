"""Session rules: create (picker/direct), lazy expiry, wire rendering. Never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ehrconnect.api.context import AppContext
from ehrconnect.api.deps import AuthContext
from ehrconnect.catalog.repository import get_source
from ehrconnect.connections import repository as connections_repo
from ehrconnect.connections.smart_cache import schedule_prefetch
from ehrconnect.connections.wire import session_connection
from ehrconnect.errors import APIError, not_found
from ehrconnect.kit.crypto import sha256_hex
from ehrconnect.kit.ids import new_id, new_url_token
from ehrconnect.kit.pagination import Page
from ehrconnect.kit.time import iso, utcnow
from ehrconnect.models import ConnectSession, FhirSource, Patient
from ehrconnect.patients import service as patients
from ehrconnect.sessions.schemas import SessionCreate, SessionOut


async def _resolve_source(
    session: AsyncSession, auth: AuthContext, id_or_url: str, param: str
) -> FhirSource:
    source = await get_source(session, auth.environment, id_or_url)
    if source is None:
        raise not_found("FHIR source in this environment", param)
    if source.disabled:
        raise APIError("invalid_data", "This FHIR source is disabled.", param=param)
    return source


async def create(
    session: AsyncSession, ctx: AppContext, auth: AuthContext, body: SessionCreate
) -> tuple[ConnectSession, Patient]:
    if body.connection_id is not None and body.recommended_connection_ids is not None:
        raise APIError(
            "invalid_data",
            "connection_id (Direct Mode) and recommended_connection_ids (Picker Mode) are mutually exclusive.",
            param="connection_id",
        )
    direct = None
    if body.connection_id is not None:
        direct = await _resolve_source(session, auth, body.connection_id, "connection_id")
    recommended: list[str] | None = None
    if body.recommended_connection_ids is not None:
        recommended = []
        for value in body.recommended_connection_ids:
            source = await _resolve_source(session, auth, value, "recommended_connection_ids")
            if source.id not in recommended:
                recommended.append(source.id)
    patient = await patients.upsert_for_session(
        session, auth, patient_id=body.patient_id, email=body.patient_email, name=body.patient_name
    )
    token = new_url_token()
    now = utcnow()
    row = ConnectSession(
        id=new_id("session"),
        organization_id=auth.organization_id,
        environment=auth.environment,
        patient_pk=patient.pk,
        mode="direct" if direct else "picker",
        source_id=direct.id if direct else None,
        recommended_source_ids=recommended,
        return_url=body.return_url,
        return_button_label=body.return_button_label,
        status="open",
        expires_at=now + timedelta(seconds=body.expires_in),
        metadata_=body.metadata or {},
        url_token_hash=sha256_hex(token),
        url_token_encrypted=ctx.cipher.encrypt(token),
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    if direct is not None:  # the session URL redirects straight to the EHR: warm its discovery now
        schedule_prefetch(ctx, [direct.fhir_base_url])
    return row, patient


def expire_if_due(row: ConnectSession) -> bool:
    """Lazy expiry: an open session past `expires_at` reads (and is stored) as expired."""
    if row.status == "open" and row.expires_at <= utcnow():
        row.status = "expired"
        row.updated_at = utcnow()
        return True
    return False


async def get(session: AsyncSession, auth: AuthContext, session_id: str) -> tuple[ConnectSession, Patient]:
    result = await session.execute(
        select(ConnectSession, Patient)
        .join(Patient, Patient.pk == ConnectSession.patient_pk)
        .where(
            ConnectSession.id == session_id,
            ConnectSession.organization_id == auth.organization_id,
            ConnectSession.environment == auth.environment,
        )
    )
    found = result.one_or_none()
    if found is None:
        raise not_found("session", "id")
    row, patient = found
    expire_if_due(row)
    return row, patient


async def list_for_patient(
    session: AsyncSession, patient: Patient, *, status: str | None, limit: int, before_id: str | None
) -> Page[ConnectSession]:
    query = select(ConnectSession).where(ConnectSession.patient_pk == patient.pk)
    if before_id is not None:
        query = query.where(ConnectSession.id < before_id)
    now = utcnow()
    # Status filters see lazy expiry too: an open session past its expiry is "expired".
    if status == "open":
        query = query.where(ConnectSession.status == "open", ConnectSession.expires_at > now)
    elif status == "expired":
        query = query.where(
            (ConnectSession.status == "expired")
            | ((ConnectSession.status == "open") & (ConnectSession.expires_at <= now))
        )
    elif status == "complete":
        query = query.where(ConnectSession.status == "complete")
    rows = list((await session.execute(query.order_by(ConnectSession.id.desc()).limit(limit + 1))).scalars())
    for row in rows:
        expire_if_due(row)
    return Page(rows[:limit], len(rows) > limit)


def session_url(ctx: AppContext, row: ConnectSession) -> str:
    return f"{ctx.settings.public_url}/c/{ctx.cipher.decrypt(row.url_token_encrypted)}"


async def to_wire(
    session: AsyncSession, ctx: AppContext, rows: Sequence[ConnectSession], patient_ids: dict[str, str]
) -> list[SessionOut]:
    attempts = await connections_repo.for_sessions(session, [row.id for row in rows])
    return [
        SessionOut(
            id=row.id,
            status=row.status,
            url=session_url(ctx, row),
            patient_id=patient_ids[row.patient_pk],
            connection_id=row.source_id,
            recommended_connection_ids=row.recommended_source_ids,
            return_url=row.return_url,
            return_button_label=row.return_button_label,
            connections=[session_connection(c) for c in attempts.get(row.id, [])],
            expires_at=iso(row.expires_at) or "",
            metadata=row.metadata_ or {},
            created_at=iso(row.created_at) or "",
        )
        for row in rows
    ]
