"""All SQL about connections, scoped to the caller's tenant through the patient or session."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ehrconnect.models import Connection


async def for_patient(session: AsyncSession, patient_pk: str) -> Sequence[Connection]:
    """Every attempt for the patient, newest first."""
    result = await session.execute(
        select(Connection).where(Connection.patient_pk == patient_pk).order_by(Connection.id.desc())
    )
    return result.scalars().all()


async def for_sessions(session: AsyncSession, session_ids: Sequence[str]) -> dict[str, list[Connection]]:
    """Attempts per session, in the order they happened."""
    if not session_ids:
        return {}
    result = await session.execute(
        select(Connection).where(Connection.session_id.in_(session_ids)).order_by(Connection.id)
    )
    grouped: dict[str, list[Connection]] = {sid: [] for sid in session_ids}
    for row in result.scalars():
        if row.session_id is not None:
            grouped[row.session_id].append(row)
    return grouped


async def get_for_patient(session: AsyncSession, patient_pk: str, connection_id: str) -> Connection | None:
    result = await session.execute(
        select(Connection).where(Connection.patient_pk == patient_pk, Connection.id == connection_id)
    )
    return result.scalar_one_or_none()
