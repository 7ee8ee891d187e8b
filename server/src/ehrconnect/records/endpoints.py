"""HTTP adapter for a patient's records and their connections' sync reports."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from ehrconnect.api.context import get_context
from ehrconnect.api.deps import Auth
from ehrconnect.api.schemas import CursorQuery, LimitQuery, ListResponse, cursor_key
from ehrconnect.connections.service import require_connection
from ehrconnect.kit.pagination import encode_cursor
from ehrconnect.patients import service as patients
from ehrconnect.records import service
from ehrconnect.records.schemas import RecordList, SyncRequested, SyncRunOut

router = APIRouter(tags=["Records"])

RecordCursor = Annotated[
    str | None, Query(min_length=1, max_length=64, description="A `next_cursor` / `previous_cursor` (12 characters).")
]


@router.get("/patients/{id}/records", response_model=RecordList, summary="List a patient's stored FHIR records")
async def list_records(
    request: Request,
    auth: Auth,
    id: str,
    type: Annotated[str | None, Query(max_length=2000, description="Comma-separated FHIR types.")] = None,
    since: Annotated[
        str | None, Query(max_length=40, description="Only resources changed in our store after this date/time.")
    ] = None,
    count: Annotated[int, Query(ge=1, le=100, description="Page size, 1 to 100.")] = 100,
    starting_after: RecordCursor = None,
    ending_before: RecordCursor = None,
) -> RecordList:
    """The latest stored version of each resource pulled from the patient's connections, in the
    order they were first stored. Page forward with `starting_after=next_cursor`, backward with
    `ending_before=previous_cursor`; pages never shift when new resources arrive."""
    ctx = get_context(request)
    types = service.parse_types(type)
    changed_since = service.parse_since(since)
    async with ctx.db.session() as session:
        patient = await patients.require(session, auth, id)
        return await service.list_records(
            session, ctx, patient, types=types, since=changed_since, count=count,
            starting_after=starting_after, ending_before=ending_before,
        )


@router.get(
    "/patients/{id}/connections/{conn_id}/sync-runs",
    response_model=ListResponse[SyncRunOut],
    summary="List a connection's sync runs",
)
async def list_sync_runs(
    request: Request, auth: Auth, id: str, conn_id: str, limit: LimitQuery = 10, starting_after: CursorQuery = None
) -> ListResponse[SyncRunOut]:
    """Background pull reports for one connection, newest first: per-type counts, errors, timing."""
    ctx = get_context(request)
    async with ctx.db.session() as session:
        patient = await patients.require(session, auth, id)
        connection = await require_connection(session, patient, conn_id)
        page = await service.list_sync_runs(session, connection, limit=limit, before_id=cursor_key(starting_after))
    return ListResponse[SyncRunOut](
        data=[service.sync_run_out(r) for r in page.items], has_more=page.has_more,
        next_cursor=encode_cursor(page.items[-1].id) if page.has_more and page.items else None,
    )


@router.post(
    "/patients/{id}/connections/{conn_id}/sync", response_model=SyncRequested, summary="Pull a connection now"
)
async def request_sync(request: Request, auth: Auth, id: str, conn_id: str) -> SyncRequested:
    """Queue a background pull of an active connection now (at most one is queued at a time)."""
    ctx = get_context(request)
    async with ctx.db.session() as session:
        patient = await patients.require(session, auth, id)
        connection = await require_connection(session, patient, conn_id)
        await service.request_sync(session, connection)
    return SyncRequested(id=conn_id)
