"""Records API rules: filters, cursors, the patient identifier, sync-run reports. Never commits."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ehrconnect.api.context import AppContext
from ehrconnect.errors import APIError, invalid
from ehrconnect.kit.pagination import Page
from ehrconnect.kit.time import iso
from ehrconnect.models import Connection, Patient, SyncRun
from ehrconnect.records import repository
from ehrconnect.records.cursor import CursorCodec, InvalidRecordCursor
from ehrconnect.records.schemas import RecordItem, RecordList, SyncRunOut
from ehrconnect.worker.queue import enqueue_sync

#: The identifier every served FHIR Patient carries, naming the app's own patient id.
PATIENT_ID_SYSTEM = "urn:ehrconnect:patient-id"
#: The same identifier under the Medblocks Platform's system, so apps written against it work unchanged.
MEDBLOCKS_PATIENT_ID_SYSTEM = "urn:medblocks:patient-id"
PATIENT_ID_SYSTEMS = (PATIENT_ID_SYSTEM, MEDBLOCKS_PATIENT_ID_SYSTEM)
_TYPE = re.compile(r"^[A-Z][A-Za-z]{0,63}$")
MAX_TYPES = 50


def codec(ctx: AppContext) -> CursorCodec:
    found = ctx.extras.get("record_cursor_codec")
    if not isinstance(found, CursorCodec):
        found = CursorCodec(ctx.cipher)
        ctx.extras["record_cursor_codec"] = found
    return found


def parse_types(value: str | None) -> list[str] | None:
    """`Observation,Condition` -> the list; 400 on anything that is not a FHIR type name."""
    if value is None:
        return None
    types = [t.strip() for t in value.split(",") if t.strip()]
    if not types or len(types) > MAX_TYPES or not all(_TYPE.match(t) for t in types):
        raise invalid("type must be a comma-separated list of FHIR resource types, e.g. Observation,Condition", "type")
    return sorted(set(types))


def parse_since(value: str | None) -> datetime | None:
    """ISO date (midnight UTC) or date-time (UTC when no offset is given)."""
    if value is None:
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise invalid("since must be an ISO 8601 date or date-time", "since") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def with_patient_identifier(resource: dict[str, Any], patient_id: str) -> dict[str, Any]:
    """A copy of a FHIR Patient carrying the app's patient id under both identifier systems
    (:data:`PATIENT_ID_SYSTEMS`); stored data stays as the source sent it.

    Identifiers of those systems sent by the source are replaced. ``identifier`` is a list in FHIR
    (0..*); anything else a source sends there (null, a number, an object) is dropped, not served.
    """
    sent = resource.get("identifier")
    identifiers = [
        i for i in (sent if isinstance(sent, list) else [])
        if not (isinstance(i, dict) and i.get("system") in PATIENT_ID_SYSTEMS)
    ]
    identifiers.extend({"system": system, "value": patient_id} for system in PATIENT_ID_SYSTEMS)
    return {**resource, "identifier": identifiers}


async def list_records(
    session: AsyncSession,
    ctx: AppContext,
    patient: Patient,
    *,
    types: list[str] | None,
    since: datetime | None,
    count: int,
    starting_after: str | None,
    ending_before: str | None,
) -> RecordList:
    """One page of the patient's current records, in stored order, either direction."""
    if starting_after is not None and ending_before is not None:
        raise invalid("Pass starting_after or ending_before, not both.", "ending_before")
    cursors = codec(ctx)
    after = _decode(cursors, patient, starting_after, "starting_after")
    before = _decode(cursors, patient, ending_before, "ending_before")
    rows, has_before, has_after = await repository.list_window(
        session, patient.pk, types=types, changed_since=since, after=after, before=before, limit=count
    )
    data = [
        RecordItem(
            source=row.source_id,
            resource=with_patient_identifier(row.resource, patient.patient_id)
            if row.resource_type == "Patient" else row.resource,
        )
        for row in rows
    ]
    next_cursor = cursors.encode(patient.pk, rows[-1].seq) if rows and has_after else None
    previous_cursor = cursors.encode(patient.pk, rows[0].seq) if rows and has_before else None
    return RecordList(
        patient_id=patient.patient_id, data=data,
        has_more=has_before if before is not None else has_after,
        next_cursor=next_cursor, previous_cursor=previous_cursor,
    )


def _decode(cursors: CursorCodec, patient: Patient, value: str | None, param: str) -> int | None:
    if value is None:
        return None
    try:
        return cursors.decode(patient.pk, value)
    except InvalidRecordCursor:
        raise APIError(
            "invalid_data", "This cursor is malformed; pass back a next_cursor or previous_cursor exactly.",
            param=param,
        ) from None


def sync_run_out(run: SyncRun) -> SyncRunOut:
    deleted = (run.progress or {}).get("deleted") or {}
    return SyncRunOut(
        id=run.id, connection_id=run.connection_id,
        status="running" if run.status == "running" else "succeeded" if run.status == "succeeded" else "failed",
        mode="full" if run.mode == "full" else "incremental",
        started_at=iso(run.started_at) or "", finished_at=iso(run.finished_at), duration_ms=run.duration_ms,
        counts=dict(run.counts or {}), errors=list(run.errors or []),
        deleted={str(k): int(v) for k, v in deleted.items()},
    )


async def list_sync_runs(
    session: AsyncSession, connection: Connection, *, limit: int, before_id: str | None
) -> Page[SyncRun]:
    """A connection's runs, newest first."""
    query = select(SyncRun).where(SyncRun.connection_id == connection.id)
    if before_id is not None:
        query = query.where(SyncRun.id < before_id)
    rows = list((await session.execute(query.order_by(SyncRun.id.desc()).limit(limit + 1))).scalars())
    return Page(rows[:limit], len(rows) > limit)


async def request_sync(session: AsyncSession, connection: Connection) -> None:
    """Queue a pull now (manual retrieval). Only active connections can be pulled."""
    if connection.status != "active":
        raise APIError(
            "resource_conflict", f"The connection is {connection.status}; only active connections can be synced."
        )
    await enqueue_sync(session, connection.id)
