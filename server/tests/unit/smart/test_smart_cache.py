"""DiscoveryCache: TTL, single-flight, peek/prefetch, failures not cached."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from ehrconnect.smart import DiscoveryCache, SingleFlightCache, SourceUnavailable
from smart_testkit import BASE, TOKEN, FakeClock, MockServer, json_response, well_known_doc

WELL_KNOWN = BASE + "/.well-known/smart-configuration"


async def test_second_get_is_served_from_cache(server: MockServer, http: httpx.AsyncClient, clock: FakeClock) -> None:
    server.json("GET", WELL_KNOWN, well_known_doc())
    cache = DiscoveryCache(http, ttl=timedelta(minutes=10), clock=clock)
    first = await cache.get(BASE)
    second = await cache.get(BASE + "/")  # normalised to the same key
    assert first is second
    assert len(server.calls(WELL_KNOWN)) == 1


async def test_ttl_expiry_refetches(server: MockServer, http: httpx.AsyncClient, clock: FakeClock) -> None:
    server.json("GET", WELL_KNOWN, well_known_doc())
    cache = DiscoveryCache(http, ttl=timedelta(minutes=10), clock=clock)
    await cache.get(BASE)
    clock.advance(599)
    await cache.get(BASE)
    assert len(server.calls(WELL_KNOWN)) == 1
    clock.advance(1)
    assert cache.peek(BASE) is None
    assert cache.peek(BASE, allow_stale=True) is not None
    await cache.get(BASE)
    assert len(server.calls(WELL_KNOWN)) == 2


async def test_concurrent_callers_share_one_fetch(
    server: MockServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    release = asyncio.Event()
    started = 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal started
        started += 1
        await release.wait()
        return json_response(200, well_known_doc())

    server.route("GET", WELL_KNOWN, slow)
    cache = DiscoveryCache(http, clock=clock)
    waiters = [asyncio.create_task(cache.get(BASE)) for _ in range(20)]
    await asyncio.sleep(0.01)
    assert started == 1
    release.set()
    results = await asyncio.gather(*waiters)
    assert all(r is results[0] for r in results)
    assert len(server.calls(WELL_KNOWN)) == 1


async def test_failure_is_shared_and_not_cached(server: MockServer, http: httpx.AsyncClient, clock: FakeClock) -> None:
    release = asyncio.Event()

    async def failing(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return httpx.Response(503)

    server.route("GET", WELL_KNOWN, failing)
    server.route("GET", BASE + "/metadata", httpx.Response(503))
    cache = DiscoveryCache(http, clock=clock)
    waiters = [asyncio.create_task(cache.get(BASE)) for _ in range(3)]
    await asyncio.sleep(0.01)
    release.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(r, SourceUnavailable) for r in results)
    assert len(server.calls(WELL_KNOWN)) == 1
    assert cache.peek(BASE) is None

    server.json("GET", WELL_KNOWN, well_known_doc())
    config = await cache.get(BASE)  # the next caller retries
    assert config.token_endpoint == TOKEN


async def test_cancelled_waiter_does_not_cancel_shared_fetch(
    server: MockServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    release = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return json_response(200, well_known_doc())

    server.route("GET", WELL_KNOWN, slow)
    cache = DiscoveryCache(http, clock=clock)
    first = asyncio.create_task(cache.get(BASE))
    second = asyncio.create_task(cache.get(BASE))
    await asyncio.sleep(0.01)
    first.cancel()
    release.set()
    config = await second
    assert config.token_endpoint == TOKEN
    with pytest.raises(asyncio.CancelledError):
        await first
    assert len(server.calls(WELL_KNOWN)) == 1


async def test_peek_never_fetches_and_prefetch_warms(
    server: MockServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    server.json("GET", WELL_KNOWN, well_known_doc())
    cache = DiscoveryCache(http, clock=clock)
    assert cache.peek(BASE) is None
    assert cache.get_cached(BASE) is None
    assert server.requests == []
    assert await cache.prefetch(BASE) is True
    assert cache.peek(BASE) is not None
    assert len(server.requests) == 1


async def test_prefetch_swallows_errors(server: MockServer, http: httpx.AsyncClient, clock: FakeClock) -> None:
    server.route("GET", WELL_KNOWN, httpx.Response(500))
    server.route("GET", BASE + "/metadata", httpx.Response(500))
    cache = DiscoveryCache(http, clock=clock)
    assert await cache.prefetch(BASE) is False
    assert await cache.prefetch("not a url") is False


async def test_invalidate_forces_refetch(server: MockServer, http: httpx.AsyncClient, clock: FakeClock) -> None:
    server.json("GET", WELL_KNOWN, well_known_doc())
    cache = DiscoveryCache(http, clock=clock)
    await cache.get(BASE)
    cache.invalidate(BASE)
    await cache.get(BASE)
    assert len(server.calls(WELL_KNOWN)) == 2


async def test_server_capabilities_cached(server: MockServer, http: httpx.AsyncClient, clock: FakeClock) -> None:
    server.json(
        "GET",
        BASE + "/metadata",
        {"resourceType": "CapabilityStatement", "rest": [{"resource": [{"type": "Patient"}]}]},
    )
    cache = DiscoveryCache(http, clock=clock)
    assert cache.peek_server_capabilities(BASE) is None
    caps = await cache.get_server_capabilities(BASE)
    assert caps.supports_resource("Patient")
    assert await cache.get_server_capabilities(BASE) is caps
    assert len(server.requests) == 1


async def test_single_flight_cache_keys_are_independent(clock: FakeClock) -> None:
    loads: list[str] = []

    async def loader(key: str) -> str:
        loads.append(key)
        await asyncio.sleep(0)
        return key.upper()

    cache: SingleFlightCache[str] = SingleFlightCache(loader, ttl=timedelta(seconds=5), clock=clock)
    a, b, a2 = await asyncio.gather(cache.get("a"), cache.get("b"), cache.get("a"))
    assert (a, b, a2) == ("A", "B", "A")
    assert sorted(loads) == ["a", "b"]
    with pytest.raises(ValueError):
        SingleFlightCache(loader, ttl=timedelta(0))
