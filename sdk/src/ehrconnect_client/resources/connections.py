"""``/connections``: the FHIR source catalog (EHRs a patient can connect)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Unpack

from .._base import RequestOptions
from .._models import FhirSource
from .._pagination import ListPage
from . import _routes
from ._params import source_list_params

if TYPE_CHECKING:
    from .._client import AsyncClient, Client

__all__ = ["AsyncConnections", "Connections"]


class Connections:
    """Search and read the source catalog (sync)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def list(
        self,
        *,
        q: str | None = None,
        type: str | None = None,
        limit: int | None = None,
        starting_after: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> ListPage[FhirSource]:
        """``GET /connections``: ``q`` searches names, ``type`` filters by vendor (``epic``...)."""
        params = source_list_params(q=q, type=type, limit=limit, starting_after=starting_after)
        return self._client._get_page(_routes.CONNECTIONS, ListPage[FhirSource], params, options)

    def iter_all(
        self,
        *,
        q: str | None = None,
        type: str | None = None,
        limit: int | None = None,
        **options: Unpack[RequestOptions],
    ) -> Iterator[FhirSource]:
        """Every catalog source matching the filters."""
        return self.list(q=q, type=type, limit=limit, **options).auto_paging_iter()

    def retrieve(self, source: str, **options: Unpack[RequestOptions]) -> FhirSource:
        """``GET /connections/{id}`` by ``fhirsrc_`` id or by ``fhir_base_url``."""
        return self._client._request("GET", _routes.source(source), FhirSource, options=options)


class AsyncConnections:
    """Search and read the source catalog (async)."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def list(
        self,
        *,
        q: str | None = None,
        type: str | None = None,
        limit: int | None = None,
        starting_after: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> ListPage[FhirSource]:
        """``GET /connections``; see :meth:`Connections.list`."""
        params = source_list_params(q=q, type=type, limit=limit, starting_after=starting_after)
        return await self._client._get_page(_routes.CONNECTIONS, ListPage[FhirSource], params, options)

    async def iter_all(
        self,
        *,
        q: str | None = None,
        type: str | None = None,
        limit: int | None = None,
        **options: Unpack[RequestOptions],
    ) -> AsyncIterator[FhirSource]:
        """Every catalog source matching the filters (``async for``)."""
        page = await self.list(q=q, type=type, limit=limit, **options)
        async for source in page.auto_paging_aiter():
            yield source

    async def retrieve(self, source: str, **options: Unpack[RequestOptions]) -> FhirSource:
        """``GET /connections/{id}`` by ``fhirsrc_`` id or by ``fhir_base_url``."""
        return await self._client._request("GET", _routes.source(source), FhirSource, options=options)
