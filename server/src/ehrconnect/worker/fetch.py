"""FHIR page fetching for a sync: per-source concurrency limit, in-place retries, 429 Retry-After.

Transient failures (network, 5xx, 429) are retried here a few times with exponential backoff and
jitter, honouring ``Retry-After`` (RFC 9110 §10.2.3) up to a bound; beyond that the sync stops
with :class:`FetchInterrupted` and the job is retried later, resuming from its checkpoint.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx

from ehrconnect.api.context import AppContext
from ehrconnect.smart import FhirSession, InvalidFhirResponse, RateLimited, SourceUnavailable, resolve_next_link

MAX_PAGE_RETRIES = 6
#: Longest Retry-After we sleep through in place; longer ones reschedule the job instead.
MAX_INLINE_WAIT = 30.0
_sleep = asyncio.sleep  # indirection for tests


class FetchInterrupted(Exception):
    """The source kept failing transiently; retry the job (after `retry_after` seconds if set)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def source_limiter(ctx: AppContext, fhir_base_url: str) -> asyncio.Semaphore:
    """One semaphore per source origin per process: at most `sync_source_concurrency` requests."""
    url = httpx.URL(fhir_base_url)
    key = f"{url.scheme}://{url.host}:{url.port}"
    limits: dict[str, asyncio.Semaphore] = ctx.extras.setdefault("sync_source_limits", {})
    if key not in limits:
        limits[key] = asyncio.Semaphore(max(1, ctx.settings.sync_source_concurrency))
    return limits[key]


def _backoff(attempt: int) -> float:
    delay: float = min(8.0, 0.25 * (2**attempt))
    return delay / 2 + random.uniform(0, delay / 2)


async def get_with_retries(
    fhir: FhirSession, limiter: asyncio.Semaphore, url: str | httpx.URL
) -> dict[str, Any]:
    """GET one FHIR document, retrying transient failures in place."""
    attempt = 0
    while True:
        async with limiter:
            try:
                return await fhir.get(url)
            except RateLimited as exc:
                wait = exc.retry_after if exc.retry_after is not None else _backoff(attempt)
                problem = "rate limited (429)"
            except SourceUnavailable as exc:
                wait = _backoff(attempt)
                problem = exc.message
        attempt += 1
        if attempt > MAX_PAGE_RETRIES or wait > MAX_INLINE_WAIT:
            raise FetchInterrupted(f"source unavailable: {problem}", retry_after=wait)
        await _sleep(wait)


def bundle_resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The resources of a searchset Bundle page (OperationOutcome entries are skipped)."""
    entries = bundle.get("entry")
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise InvalidFhirResponse("Bundle.entry is not a list")
    found = []
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if (
            isinstance(resource, dict)
            and isinstance(resource.get("resourceType"), str)
            and resource["resourceType"] != "OperationOutcome"
            and isinstance(resource.get("id"), str)
        ):
            found.append(resource)
    return found


def next_link(fhir: FhirSession, bundle: dict[str, Any], page_url: str) -> str | None:
    """The Bundle's ``next`` link (FHIR R4 http §3.1.0.10), checked against the source's origin
    and base path: an outside link raises OriginViolation and is never requested."""
    url = resolve_next_link(bundle, page_url, fhir.guard)
    return None if url is None else str(url)
