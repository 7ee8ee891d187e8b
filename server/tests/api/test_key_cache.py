"""The API-key lookup cache: hits skip the database, misses are never cached, expiry stays exact."""

from __future__ import annotations

from datetime import timedelta

import httpx
from contract_kit import assert_error, authed
from ehrconnect.auth.cache import ApiKeyCache
from ehrconnect.auth.keys import create_key, revoke_key
from ehrconnect.kit.time import utcnow
from fastapi import FastAPI


async def test_revocation_applies_within_the_ttl(app: FastAPI) -> None:
    now = [0.0]
    app.state.ctx.extras["api_key_cache"] = ApiKeyCache(5.0, clock=lambda: now[0])
    async with app.state.ctx.db.session() as session:
        key = await create_key(session, organization="acme", environment="sandbox")
    async with authed(app, key.secret) as api:
        assert (await api.get("/patients")).status_code == 200
        async with app.state.ctx.db.session() as session:
            assert await revoke_key(session, key.id)
        assert (await api.get("/patients")).status_code == 200  # cached for up to 5 s
        now[0] += 5.0
        assert_error(await api.get("/patients"), 401, "invalid_api_key")


async def test_misses_are_not_cached(app: FastAPI, client: httpx.AsyncClient) -> None:
    app.state.ctx.extras["api_key_cache"] = ApiKeyCache(60.0)
    async with app.state.ctx.db.session() as session:
        key = await create_key(session, organization="acme", environment="sandbox")
    assert_error(await client.get("/patients", headers={"Authorization": "Bearer mb_sk_sbx_nope"}), 401,
                 "invalid_api_key")
    assert (await client.get("/patients", headers={"Authorization": f"Bearer {key.secret}"})).status_code == 200


async def test_expiry_is_checked_on_every_request(app: FastAPI) -> None:
    app.state.ctx.extras["api_key_cache"] = ApiKeyCache(3600.0)
    async with app.state.ctx.db.session() as session:
        key = await create_key(
            session, organization="acme", environment="sandbox", expires_at=utcnow() + timedelta(seconds=1)
        )
    async with authed(app, key.secret) as api:
        assert (await api.get("/patients")).status_code == 200
        cache = app.state.ctx.extras["api_key_cache"]
        [(key_hash, (stored, cached))] = list(cache._entries.items())
        cache._entries[key_hash] = (stored, type(cached)(**{**cached.__dict__, "expires_at": utcnow()}))
        assert_error(await api.get("/patients"), 401, "expired_api_key")


def test_lru_bound_and_disabled_cache() -> None:
    from ehrconnect.auth.cache import CachedKey

    entry = CachedKey("key_1", "org_1", "sandbox", "2026-04-25", None, False)
    cache = ApiKeyCache(10.0, max_entries=2)
    for name in ("a", "b", "c"):
        cache.put(name, entry)
    assert cache.get("a") is None and cache.get("c") == entry
    off = ApiKeyCache(0.0)
    off.put("a", entry)
    assert off.get("a") is None
