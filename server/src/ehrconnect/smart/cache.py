"""Discovery cache: TTL per FHIR base URL, single-flight loads, no fetch on a warm hot path.

Discovery documents change rarely, and the direct-mode redirect (our 302 to the EHR's authorize
endpoint) should not wait on the EHR. ``get`` serves fresh entries from memory; concurrent misses
for one URL share a single fetch; ``peek`` never fetches; ``prefetch`` warms an entry without raising.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

import httpx

from ._http import DISCOVERY_TIMEOUT, Clock, utc_now
from .capabilities import ServerCapabilities, fetch_server_capabilities
from .discovery import SmartConfiguration, discover_smart_configuration
from .errors import SmartError
from .urls import normalize_base_url

__all__ = ["DiscoveryCache", "SingleFlightCache"]

logger = logging.getLogger("ehrconnect.smart")

V = TypeVar("V")


@dataclass(frozen=True)
class _Entry(Generic[V]):
    value: V
    fetched_at: datetime
    expires_at: datetime


class SingleFlightCache(Generic[V]):
    """An async TTL cache keyed by string where concurrent misses for one key share one load.

    A load that fails is not cached (the next caller retries) and every waiter sees the same
    exception. Cancelling one waiter does not cancel the shared load for the others.
    """

    def __init__(self, loader: Callable[[str], Awaitable[V]], *, ttl: timedelta, clock: Clock = utc_now) -> None:
        if ttl <= timedelta(0):
            raise ValueError("ttl must be positive")
        self._loader = loader
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[str, _Entry[V]] = {}
        self._inflight: dict[str, asyncio.Task[V]] = {}

    def peek(self, key: str, *, allow_stale: bool = False) -> V | None:
        """The cached value without loading: None when absent (or expired, unless ``allow_stale``)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if allow_stale or self._clock() < entry.expires_at:
            return entry.value
        return None

    async def get(self, key: str) -> V:
        """The cached value if fresh, else the result of one shared load for ``key``."""
        fresh = self.peek(key)
        if fresh is not None:
            return fresh
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._load(key))
            self._inflight[key] = task
            task.add_done_callback(functools.partial(self._done, key))
        # shield: a cancelled waiter must not cancel the load other waiters share.
        return await asyncio.shield(task)

    async def _load(self, key: str) -> V:
        value = await self._loader(key)
        now = self._clock()
        self._entries[key] = _Entry(value=value, fetched_at=now, expires_at=now + self._ttl)
        return value

    def _done(self, key: str, task: asyncio.Task[V]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # mark retrieved: a failure with no remaining waiter is not an error

    def invalidate(self, key: str | None = None) -> None:
        """Drop one entry (or all when ``key`` is None). In-flight loads still complete."""
        if key is None:
            self._entries.clear()
        else:
            self._entries.pop(key, None)


class DiscoveryCache:
    """Cached SMART configuration and CapabilityStatement summaries per FHIR base URL.

    One instance per process, sharing the platform's pooled ``httpx.AsyncClient``. Keys are
    normalised base URLs, so ``https://EHR/fhir/`` and ``https://ehr/fhir`` share an entry.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        ttl: timedelta = timedelta(hours=1),
        clock: Clock = utc_now,
        timeout: httpx.Timeout = DISCOVERY_TIMEOUT,
    ) -> None:
        self._http = http
        self._timeout = timeout
        self._smart: SingleFlightCache[SmartConfiguration] = SingleFlightCache(self._load_smart, ttl=ttl, clock=clock)
        self._caps: SingleFlightCache[ServerCapabilities] = SingleFlightCache(self._load_caps, ttl=ttl, clock=clock)

    async def _load_smart(self, base: str) -> SmartConfiguration:
        return await discover_smart_configuration(self._http, base, http_timeout=self._timeout)

    async def _load_caps(self, base: str) -> ServerCapabilities:
        return await fetch_server_capabilities(self._http, base, http_timeout=self._timeout)

    async def get(self, fhir_base_url: str) -> SmartConfiguration:
        """The SMART configuration, fetched at most once per TTL (concurrent callers share a fetch).

        Raises what :func:`discover_smart_configuration` raises.
        """
        return await self._smart.get(normalize_base_url(fhir_base_url))

    def peek(self, fhir_base_url: str, *, allow_stale: bool = False) -> SmartConfiguration | None:
        """The cached SMART configuration without fetching (None when absent or expired)."""
        return self._smart.peek(normalize_base_url(fhir_base_url), allow_stale=allow_stale)

    get_cached = peek

    async def prefetch(self, fhir_base_url: str) -> bool:
        """Warm the SMART configuration entry. Never raises; returns whether a value is now cached."""
        try:
            await self.get(fhir_base_url)
        except (SmartError, ValueError) as exc:
            logger.info("SMART discovery prefetch failed: %s", type(exc).__name__)
            return False
        return True

    async def get_server_capabilities(self, fhir_base_url: str) -> ServerCapabilities:
        """The parsed CapabilityStatement, cached like :meth:`get`."""
        return await self._caps.get(normalize_base_url(fhir_base_url))

    def peek_server_capabilities(self, fhir_base_url: str, *, allow_stale: bool = False) -> ServerCapabilities | None:
        """The cached CapabilityStatement summary without fetching."""
        return self._caps.peek(normalize_base_url(fhir_base_url), allow_stale=allow_stale)

    def invalidate(self, fhir_base_url: str | None = None) -> None:
        """Forget one base URL's entries (or everything), e.g. after the EHR rotated endpoints."""
        key = None if fhir_base_url is None else normalize_base_url(fhir_base_url)
        self._smart.invalidate(key)
        self._caps.invalidate(key)
