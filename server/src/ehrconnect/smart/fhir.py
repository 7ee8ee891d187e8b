"""FHIR REST access for one connection, with the origin guard (house rule 7).

A :class:`FhirSession` is bound to one FHIR base URL. Every request URL, including redirect
targets and Bundle ``next`` links, is checked by :class:`BaseUrlGuard` *before* the bearer token
is attached (RFC 6750 §5.3: don't leak tokens; SMART 2.x: the token is for the ``aud`` server
only). Redirects are followed manually so the guard sees each hop. Search results are yielded
page by page (FHIR R4 §3.1.1.5 paging via ``link[relation=next]``) and never accumulated.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from typing import Any

import httpx
from pydantic import SecretStr

from ._http import (
    FHIR_TIMEOUT,
    MAX_FHIR_PAGE_BYTES,
    Clock,
    ResponseTooLarge,
    describe_url,
    raise_for_transient,
    read_body_limited,
    send,
    utc_now,
)
from .errors import FhirError as _FhirError
from .errors import Forbidden, InvalidFhirResponse, ResourceNotFound, SmartError, Unauthorized
from .urls import BaseUrlGuard

__all__ = ["FhirSession", "Params", "TokenProvider", "TokenSource", "resolve_next_link"]

TokenProvider = Callable[[], Awaitable[str | SecretStr]]
"""Async callable returning the current access token; called before every request."""
TokenSource = str | SecretStr | TokenProvider
Params = Mapping[str, str | int | Sequence[str]]

_RESOURCE_TYPE = re.compile(r"[A-Z][A-Za-z]{0,63}")
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_MAX_ERROR_BODY = 256 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def _issue_codes(body: bytes) -> tuple[str, ...]:
    """``OperationOutcome.issue.code`` values from an error body (diagnostics are not kept: PHI)."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return ()
    if not isinstance(doc, dict) or doc.get("resourceType") != "OperationOutcome":
        return ()
    issues = doc.get("issue")
    if not isinstance(issues, list):
        return ()
    return tuple(i["code"] for i in issues if isinstance(i, dict) and isinstance(i.get("code"), str))


class FhirSession:
    """Authenticated read access to one FHIR server on behalf of one connection.

    ``token`` is a fixed token or an async provider called before each request, so the caller can
    refresh between pages. On HTTP 401 the optional ``on_unauthorized`` hook is awaited once and the
    request retried (the provider should then return the new token); a second 401 raises
    :class:`Unauthorized`. Other failures: :class:`RateLimited` (429, with ``retry_after``),
    :class:`SourceUnavailable` (network, 5xx), :class:`Forbidden` (403), :class:`ResourceNotFound`
    (404/410), :class:`FhirError` (other 4xx), :class:`InvalidFhirResponse` (non-JSON body),
    :class:`OriginViolation` (a URL outside the base; nothing sent).
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        fhir_base_url: str,
        token: TokenSource,
        *,
        on_unauthorized: Callable[[], Awaitable[None]] | None = None,
        timeout: httpx.Timeout = FHIR_TIMEOUT,
        max_page_bytes: int = MAX_FHIR_PAGE_BYTES,
        max_redirects: int = 3,
        clock: Clock = utc_now,
    ) -> None:
        self._http = http
        self.guard = BaseUrlGuard(fhir_base_url)
        self._token = token
        self._on_unauthorized = on_unauthorized
        self._timeout = timeout
        self._max_page_bytes = max_page_bytes
        self._max_redirects = max_redirects
        self._clock = clock

    def __repr__(self) -> str:
        return f"FhirSession(base_url={self.base_url!r})"

    @property
    def base_url(self) -> str:
        """The normalised FHIR base URL this session may send its token to."""
        return self.guard.base_url

    def url_for(self, path_or_url: str | httpx.URL) -> httpx.URL:
        """Absolute URL for a base-relative path, or the checked absolute URL (else OriginViolation)."""
        if isinstance(path_or_url, httpx.URL) or path_or_url.startswith(("http://", "https://")):
            return self.guard.check(path_or_url)
        if "://" in path_or_url or path_or_url.startswith("//"):
            # Other schemes and scheme-relative references are never base-relative paths.
            return self.guard.check(path_or_url)
        return self.guard.url_for(path_or_url)

    async def _current_token(self) -> str:
        source = self._token
        value = source if isinstance(source, str | SecretStr) else await source()
        token = value.get_secret_value() if isinstance(value, SecretStr) else value
        if not token:
            raise SmartError("token provider returned an empty access token")
        return token

    async def get(self, path_or_url: str | httpx.URL, params: Params | None = None) -> dict[str, Any]:
        """GET a FHIR endpoint and return its JSON object. ``params`` merge into any existing query."""
        doc, _ = await self._get_json(self.url_for(path_or_url), params)
        return doc

    async def read(self, resource_type: str, resource_id: str) -> dict[str, Any]:
        """FHIR read interaction: ``GET [base]/[type]/[id]``."""
        _check_type(resource_type)
        if not _FHIR_ID.fullmatch(resource_id):
            raise ValueError("resource id is not a valid FHIR id")
        doc = await self.get(f"{resource_type}/{resource_id}")
        if doc.get("resourceType") != resource_type:
            raise InvalidFhirResponse(
                f"read returned {doc.get('resourceType')!r}, expected {resource_type}", status_code=200
            )
        return doc

    async def search_pages(
        self, resource_type: str, params: Params | None = None, *, max_pages: int | None = None
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Search ``[base]/[type]?params`` and yield each result Bundle, following ``next`` links."""
        _check_type(resource_type)
        async for page in self._pages(self.url_for(resource_type), params, max_pages):
            yield page

    async def everything_pages(
        self, patient_id: str, params: Params | None = None, *, max_pages: int | None = None
    ) -> AsyncGenerator[dict[str, Any], None]:
        """``Patient/[id]/$everything`` (FHIR R4 OperationDefinition Patient-everything), page by page."""
        if not _FHIR_ID.fullmatch(patient_id):
            raise ValueError("patient id is not a valid FHIR id")
        async for page in self._pages(self.url_for(f"Patient/{patient_id}/$everything"), params, max_pages):
            yield page

    async def follow_pages(
        self, url: str | httpx.URL, *, max_pages: int | None = None
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Resume paging from an absolute page URL (e.g. :attr:`Unauthorized.url` after a refresh)."""
        async for page in self._pages(self.url_for(url), None, max_pages):
            yield page

    async def _pages(
        self, url: httpx.URL, params: Params | None, max_pages: int | None
    ) -> AsyncGenerator[dict[str, Any], None]:
        seen: set[str] = set()
        next_url: httpx.URL | None = url
        count = 0
        while next_url is not None:
            if max_pages is not None and count >= max_pages:
                return
            bundle, page_url = await self._get_json(next_url, params)
            params = None  # next links carry their own full query (FHIR R4 §3.1.1.5)
            if bundle.get("resourceType") != "Bundle":
                raise InvalidFhirResponse("search did not return a Bundle", status_code=200, url=describe_url(page_url))
            seen.add(str(page_url))
            count += 1
            next_url = resolve_next_link(bundle, page_url, self.guard)
            if next_url is not None and str(next_url) in seen:
                raise InvalidFhirResponse("pagination loop: next link repeats a page", url=describe_url(next_url))
            yield bundle

    async def _get_json(self, url: httpx.URL, params: Params | None) -> tuple[dict[str, Any], httpx.URL]:
        if params:
            url = url.copy_merge_params(params)
        retried = False
        redirects = 0
        while True:
            request = self._http.build_request(
                "GET",
                url,
                headers={"Accept": "application/fhir+json, application/json;q=0.9"},
                timeout=self._timeout,
            )
            # Judge the exact URL httpx will send, then attach the token.
            self.guard.check(request.url)
            request.headers["Authorization"] = f"Bearer {await self._current_token()}"
            response = await send(self._http, request, what="FHIR request")
            status = response.status_code
            if status in _REDIRECTS and "location" in response.headers:
                await response.aclose()
                redirects += 1
                if redirects > self._max_redirects:
                    raise InvalidFhirResponse("too many redirects", status_code=status, url=describe_url(request.url))
                url = self.guard.check(request.url.join(response.headers["location"]))
                continue
            if status == 401:
                await response.aclose()
                if self._on_unauthorized is not None and not retried:
                    retried = True
                    await self._on_unauthorized()
                    continue
                raise Unauthorized(
                    "FHIR server rejected the access token (HTTP 401)", status_code=401, url=str(request.url)
                )
            await raise_for_transient(response, what="FHIR request", clock=self._clock)
            if not 200 <= status < 300:
                await self._raise_client_error(response, request.url)
            try:
                body = await read_body_limited(response, self._max_page_bytes, what="FHIR response")
                doc = json.loads(body)
            except ResponseTooLarge as exc:
                raise InvalidFhirResponse(str(exc), status_code=status, url=describe_url(request.url)) from exc
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise InvalidFhirResponse(
                    "FHIR response is not JSON", status_code=status, url=describe_url(request.url)
                ) from exc
            if not isinstance(doc, dict):
                raise InvalidFhirResponse(
                    "FHIR response is not a JSON object", status_code=status, url=describe_url(request.url)
                )
            return doc, request.url

    async def _raise_client_error(self, response: httpx.Response, url: httpx.URL) -> None:
        status = response.status_code
        try:
            codes = _issue_codes(await read_body_limited(response, _MAX_ERROR_BODY, what="FHIR error"))
        except ResponseTooLarge:
            codes = ()
        safe = describe_url(url)
        if status == 403:
            raise Forbidden("FHIR request forbidden (HTTP 403)", status_code=status, url=safe, issue_codes=codes)
        if status in (404, 410):
            raise ResourceNotFound(
                f"FHIR resource not found (HTTP {status})", status_code=status, url=safe, issue_codes=codes
            )
        raise _FhirError(f"FHIR request failed (HTTP {status})", status_code=status, url=safe, issue_codes=codes)


def resolve_next_link(bundle: Mapping[str, Any], page_url: str | httpx.URL, guard: BaseUrlGuard) -> httpx.URL | None:
    """The absolute URL of a Bundle's ``next`` link, or None on the last page.

    FHIR R4 §3.1.1.5 (paging): the link is followed as given, resolved against the page it came
    from (RFC 3986 §5). ``guard`` checks it before anything is sent: a link outside the source's
    base raises :class:`OriginViolation`; a ``next`` link without a usable URL raises
    :class:`InvalidFhirResponse`. Shared by :class:`FhirSession` paging and the sync worker, which
    checkpoints the returned URL.
    """
    links = bundle.get("link")
    if not isinstance(links, list):
        return None
    base = page_url if isinstance(page_url, httpx.URL) else httpx.URL(page_url)
    for link in links:
        if isinstance(link, dict) and link.get("relation") == "next":
            href = link.get("url")
            if not isinstance(href, str) or not href:
                raise InvalidFhirResponse("next link without a url", url=describe_url(base))
            try:
                target = base.join(href)
            except httpx.InvalidURL as exc:
                raise InvalidFhirResponse("next link is not a valid URL", url=describe_url(base)) from exc
            return guard.check(target)  # OriginViolation: never requested
    return None


def _check_type(resource_type: str) -> None:
    if not _RESOURCE_TYPE.fullmatch(resource_type):
        raise ValueError("not a FHIR resource type name")
