"""The process-wide SMART discovery cache, kept on the AppContext.

One instance per process so every part (hosted launch, token refresh in the worker) shares warm
entries. The direct-mode redirect reads it with ``peek`` only when warm, so no discovery fetch
happens on that hot path; entries are warmed at startup (sandbox sources) and when a direct-mode
session is created.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from ehrconnect.api.context import AppContext
from ehrconnect.smart import DiscoveryCache

_KEY = "discovery_cache"
_TASKS = "discovery_prefetch_tasks"
logger = logging.getLogger("ehrconnect.connections")


def discovery_cache(ctx: AppContext) -> DiscoveryCache:
    """The shared :class:`DiscoveryCache` (created on first use with the pooled HTTP client)."""
    cache = ctx.extras.get(_KEY)
    if cache is None:
        cache = DiscoveryCache(ctx.http)
        ctx.extras[_KEY] = cache
    assert isinstance(cache, DiscoveryCache)
    return cache


def schedule_prefetch(ctx: AppContext, fhir_base_urls: Iterable[str]) -> None:
    """Warm discovery for these base URLs in the background (never raises, never blocks)."""
    cache = discovery_cache(ctx)
    tasks: set[asyncio.Task[bool]] = ctx.extras.setdefault(_TASKS, set())
    for url in fhir_base_urls:
        if cache.peek(url) is not None:
            continue
        try:
            task = asyncio.get_running_loop().create_task(cache.prefetch(url))
        except RuntimeError:  # no running loop (sync caller): nothing to warm
            return
        tasks.add(task)  # keep a reference until done (asyncio holds tasks weakly)
        task.add_done_callback(tasks.discard)


def schedule_warmup(
    ctx: AppContext, fhir_base_urls: Iterable[str], *, delay: float = 0.5, attempts: int = 4
) -> None:
    """Warm discovery at startup, retrying: a source mounted in this very server (the sandbox EHR)
    only answers once the server is listening, which happens after startup returns."""
    urls = list(fhir_base_urls)
    if not urls:
        return
    cache = discovery_cache(ctx)

    async def run() -> bool:
        pending = urls
        for attempt in range(attempts):
            await asyncio.sleep(delay * (2**attempt))
            results = await asyncio.gather(*(cache.prefetch(u) for u in pending))
            pending = [u for u, ok in zip(pending, results, strict=True) if not ok]
            if not pending:
                return True
        logger.info("discovery warm-up left %d source(s) cold", len(pending))
        return False

    tasks: set[asyncio.Task[bool]] = ctx.extras.setdefault(_TASKS, set())
    task = asyncio.get_running_loop().create_task(run())
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def cancel_prefetches(ctx: AppContext) -> None:
    """Cancel prefetches still in flight (shutdown)."""
    tasks: set[asyncio.Task[bool]] = ctx.extras.get(_TASKS, set())
    for task in list(tasks):
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
