"""Patient rules: create, full replace, upsert from a session. Never commits."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ehrconnect.api.deps import AuthContext
from ehrconnect.errors import APIError, not_found
from ehrconnect.kit.ids import new_id
from ehrconnect.kit.time import utcnow
from ehrconnect.models import Patient
from ehrconnect.patients import repository


async def create(
    session: AsyncSession,
    auth: AuthContext,
    *,
    patient_id: str,
    email: str | None,
    name: str | None,
    metadata: dict[str, Any] | None,
) -> Patient:
    if await repository.get_by_patient_id(session, auth, patient_id) is not None:
        raise _duplicate(patient_id)
    patient = Patient(
        pk=new_id("patient"),
        organization_id=auth.organization_id,
        environment=auth.environment,
        patient_id=patient_id,
        email=email,
        name=name,
        metadata_=metadata or {},
    )
    session.add(patient)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:  # a concurrent create won the race
        raise _duplicate(patient_id) from exc
    return patient


def _duplicate(patient_id: str) -> APIError:
    return APIError(
        "external_id_already_exists",
        f"A patient with patient_id {patient_id!r} already exists.",
        param="patient_id",
    )


async def require(session: AsyncSession, auth: AuthContext, patient_id: str) -> Patient:
    patient = await repository.get_by_patient_id(session, auth, patient_id)
    if patient is None:
        raise not_found("patient", "id")
    return patient


async def replace(
    session: AsyncSession,
    auth: AuthContext,
    path_id: str,
    *,
    patient_id: str,
    email: str | None,
    name: str | None,
    metadata: dict[str, Any] | None,
) -> Patient:
    if patient_id != path_id:
        raise APIError("invalid_data", "patient_id in the body must equal the id in the path.", param="patient_id")
    patient = await require(session, auth, path_id)
    patient.email = email
    patient.name = name
    patient.metadata_ = metadata or {}
    patient.updated_at = utcnow()
    return patient


async def upsert_for_session(
    session: AsyncSession, auth: AuthContext, *, patient_id: str, email: str | None, name: str | None
) -> Patient:
    """Sessions create the patient when needed and update email/name when given."""
    patient = await repository.get_by_patient_id(session, auth, patient_id)
    if patient is None:
        try:
            return await create(session, auth, patient_id=patient_id, email=email, name=name, metadata=None)
        except APIError:
            patient = await require(session, auth, patient_id)  # created concurrently: update it
    if email is not None:
        patient.email = email
    if name is not None:
        patient.name = name
    return patient
