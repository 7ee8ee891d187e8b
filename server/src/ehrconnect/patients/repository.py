"""All SQL about patients. Every query is scoped to (organization, environment)."""

from __future__ import annotations

from sqlalchemy import Select, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from ehrconnect.api.deps import AuthContext
from ehrconnect.kit.pagination import Page
from ehrconnect.models import Patient


def _scoped(auth: AuthContext) -> Select[Patient]:
    return select(Patient).where(
        Patient.organization_id == auth.organization_id, Patient.environment == auth.environment
    )


async def get_by_patient_id(session: AsyncSession, auth: AuthContext, patient_id: str) -> Patient | None:
    result = await session.execute(_scoped(auth).where(Patient.patient_id == patient_id))
    return result.scalar_one_or_none()


async def list_page(
    session: AsyncSession,
    auth: AuthContext,
    *,
    limit: int,
    before_pk: str | None,
    patient_id: str | None = None,
    email: str | None = None,
) -> Page[Patient]:
    query = _scoped(auth)
    if patient_id is not None:
        query = query.where(Patient.patient_id == patient_id)
    if email is not None:
        query = query.where(Patient.email == email)
    if before_pk is not None:
        query = query.where(Patient.pk < before_pk)
    rows = list((await session.execute(query.order_by(Patient.pk.desc()).limit(limit + 1))).scalars())
    return Page(rows[:limit], len(rows) > limit)


async def delete_patient(session: AsyncSession, patient: Patient) -> None:
    await session.execute(delete(Patient).where(Patient.pk == patient.pk))
