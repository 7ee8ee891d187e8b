"""A short-lived in-process cache of API-key lookups: the per-request key check off the database.

Every API request authenticates; without the cache that is one more database transaction per
request (on SQLite, one more turn at the single write lock). Found keys are cached for
`ttl` seconds (default 5); unknown keys are never cached, so a freshly minted key works at once.
Expiry is evaluated on every request from the cached `expires_at`, so it is exact. The one
trade-off: revoking a key takes effect in a running server within `ttl` seconds.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ehrconnect.models import ApiKey

#: Seconds a looked-up key stays cached (override per app: ctx.extras["api_key_cache_seconds"]).
DEFAULT_TTL_SECONDS = 5.0
MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class CachedKey:
    """The fields authentication needs, detached from any database session."""

    id: str
    organization_id: str
    environment: str
    api_version: str
    expires_at: datetime | None
    revoked: bool

    @classmethod
    def of(cls, key: ApiKey) -> CachedKey:
        return cls(
            key.id, key.organization_id, key.environment, key.api_version, key.expires_at,
            key.revoked_at is not None,
        )


class ApiKeyCache:
    """Key hash -> CachedKey with a TTL and LRU eviction past `max_entries`."""

    def __init__(
        self, ttl: float = DEFAULT_TTL_SECONDS, *, max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[str, tuple[float, CachedKey]] = OrderedDict()

    def get(self, key_hash: str) -> CachedKey | None:
        entry = self._entries.get(key_hash)
        if entry is None:
            return None
        stored_at, key = entry
        if self.clock() - stored_at >= self.ttl:
            del self._entries[key_hash]
            return None
        self._entries.move_to_end(key_hash)
        return key

    def put(self, key_hash: str, key: CachedKey) -> None:
        if self.ttl <= 0:
            return
        self._entries[key_hash] = (self.clock(), key)
        self._entries.move_to_end(key_hash)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()
