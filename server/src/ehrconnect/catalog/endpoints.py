"""HTTP adapter for /connections (the FHIR source catalog)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from ehrconnect.api.context import get_context
from ehrconnect.api.deps import Auth
from ehrconnect.api.schemas import CursorQuery, LimitQuery, ListResponse
from ehrconnect.catalog.repository import get_source
from ehrconnect.catalog.schemas import FhirSourceOut
from ehrconnect.catalog.search import search_sources
from ehrconnect.errors import APIError, not_found
from ehrconnect.kit.pagination import InvalidCursor
from ehrconnect.models import FhirSource

router = APIRouter(tags=["Connections (FHIR source catalog)"])


def source_out(source: FhirSource, matched_name: str | None = None) -> FhirSourceOut:
    return FhirSourceOut(
        id=source.id,
        name=source.name,
        type=source.type,
        fhir_base_url=source.fhir_base_url,
        logo_url=source.logo_url,
        portal_url=source.portal_url,
        matched_name=matched_name,
    )


@router.get("/connections", response_model=ListResponse[FhirSourceOut], summary="Search the FHIR source catalog")
async def list_sources(
    request: Request,
    auth: Auth,
    limit: LimitQuery = 10,
    starting_after: CursorQuery = None,
    q: Annotated[str | None, Query(max_length=200, description="Search text (name, city, NPI, vendor...).")] = None,
    type: Annotated[str | None, Query(max_length=64, description="Vendor filter, e.g. `epic`.")] = None,
) -> ListResponse[FhirSourceOut]:
    ctx = get_context(request)
    async with ctx.db.read_session() as session:
        try:
            page = await search_sources(
                session, environment=auth.environment, q=q, type_=type, limit=limit, starting_after=starting_after
            )
        except InvalidCursor:
            raise APIError(
                "invalid_data", "This cursor is malformed; pass back a next_cursor exactly.", param="starting_after"
            ) from None
    return ListResponse[FhirSourceOut](
        data=[source_out(hit.source, hit.matched_name) for hit in page.hits],
        has_more=page.has_more,
        next_cursor=page.next_cursor,
    )


@router.get(
    "/connections/{id:path}",
    response_model=FhirSourceOut,
    summary="Retrieve a FHIR source by `fhirsrc_` id or URL-encoded `fhir_base_url`",
)
async def get_source_route(request: Request, auth: Auth, id: str) -> FhirSourceOut:
    ctx = get_context(request)
    async with ctx.db.read_session() as session:
        source = await get_source(session, auth.environment, id)
    if source is None:
        raise not_found("FHIR source", "id")
    return source_out(source)
