"""List pages and auto-paging over keyset cursors.

A page returned by a client remembers how to fetch the page after it, so
``client.patients.list(limit=50).auto_paging_iter()`` walks every patient, keeping the original
filters and passing the previous page's ``next_cursor`` as ``starting_after`` (the wire
contract's only pagination mechanism; cursors are opaque and passed back verbatim).
Pages from :class:`~ehrconnect_client.AsyncClient` are walked with ``auto_paging_aiter()``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, PrivateAttr

from ._errors import APIResponseValidationError
from ._response import ResponseInfo

T = TypeVar("T")

__all__ = ["ListPage"]


class ListPage(BaseModel, Generic[T]):
    """One page of a list: ``{resource_type: "list", data, has_more, next_cursor}``."""

    model_config = ConfigDict(extra="allow")

    resource_type: str = "list"
    data: list[T]
    has_more: bool = False
    next_cursor: str | None = None

    _response: ResponseInfo | None = PrivateAttr(default=None)
    # Set by the client that fetched the page: given this page, fetch the next one (or None).
    _fetch_next_sync: Callable[[Any], Any] | None = PrivateAttr(default=None)
    _fetch_next_async: Callable[[Any], Awaitable[Any]] | None = PrivateAttr(default=None)

    @property
    def last_response(self) -> ResponseInfo | None:
        """Request id and API version of the response this page came from."""
        return self._response

    def continuation_cursor(self) -> str | None:
        """The cursor that leads to the following page, or ``None`` on the last page."""
        return self.next_cursor if self.has_more else None

    def auto_paging_iter(self) -> Iterator[T]:
        """Yield every item of this page and of all following pages (sync clients).

        A page built by hand (not fetched by a client) yields only its own items.
        """
        if self._fetch_next_async is not None:
            raise TypeError("this page came from an AsyncClient: use `async for x in page.auto_paging_aiter()`")
        page: ListPage[T] | None = self
        while page is not None:
            yield from page.data
            fetch = page._fetch_next_sync
            cursor = page.continuation_cursor()
            if fetch is None or cursor is None:
                return
            following = fetch(page)
            _check_progress(cursor, following)
            page = following

    async def auto_paging_aiter(self) -> AsyncIterator[T]:
        """Yield every item of this page and of all following pages (async clients)."""
        if self._fetch_next_sync is not None:
            raise TypeError("this page came from a sync Client: use `for x in page.auto_paging_iter()`")
        page: ListPage[T] | None = self
        while page is not None:
            for item in page.data:
                yield item
            fetch = page._fetch_next_async
            cursor = page.continuation_cursor()
            if fetch is None or cursor is None:
                return
            following = await fetch(page)
            _check_progress(cursor, following)
            page = following


def _check_progress(cursor: str, following: Any) -> None:
    # A server that hands back the cursor it was given would make auto-paging loop forever.
    if isinstance(following, ListPage) and following.has_more and following.continuation_cursor() == cursor:
        raise APIResponseValidationError("pagination cursor did not advance", http_status=200, request_id=None)


def attach_sync(page: ListPage[Any], fetch: Callable[[str], Any]) -> None:
    """Make ``page`` (and, through ``fetch``, each page after it) auto-page synchronously.

    ``fetch(cursor)`` must return the next page already attached the same way.
    """

    def fetch_next(current: ListPage[Any]) -> Any:
        cursor = current.continuation_cursor()
        return None if cursor is None else fetch(cursor)

    page._fetch_next_sync = fetch_next


def attach_async(page: ListPage[Any], fetch: Callable[[str], Awaitable[Any]]) -> None:
    """Async twin of :func:`attach_sync`."""

    async def fetch_next(current: ListPage[Any]) -> Any:
        cursor = current.continuation_cursor()
        return None if cursor is None else await fetch(cursor)

    page._fetch_next_async = fetch_next
