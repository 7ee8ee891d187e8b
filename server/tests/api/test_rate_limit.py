"""Per-key token-bucket rate limits: 429 `throttled` with Retry-After, configurable via Settings."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from contract_kit import assert_error, authed
from ehrconnect.app import build_context, create_app
from ehrconnect.auth.keys import create_key
from ehrconnect.auth.ratelimit import RateLimiter
from ehrconnect.config import Settings
from fastapi import FastAPI


@pytest.fixture
async def limited_app(settings: Settings) -> AsyncIterator[FastAPI]:
    tight = settings.model_copy(update={"rate_limit_per_second": 0.5, "rate_limit_burst": 3})
    ctx = build_context(tight)
    application = create_app(tight, ctx=ctx)
    yield application
    await ctx.http.aclose()
    await ctx.db.dispose()


async def _key(app: FastAPI, org: str) -> str:
    async with app.state.ctx.db.session() as session:
        return (await create_key(session, organization=org, environment="sandbox")).secret


async def test_throttled_after_burst(limited_app: FastAPI) -> None:
    first, second = await _key(limited_app, "a"), await _key(limited_app, "b")
    async with authed(limited_app, first) as a, authed(limited_app, second) as b:
        for _ in range(3):
            assert (await a.get("/patients")).status_code == 200
        throttled = await a.get("/patients")
        error = assert_error(throttled, 429, "throttled")
        assert error["type"] == "rate_limit_error"
        assert int(throttled.headers["retry-after"]) >= 1
        assert throttled.headers["version"] == "2026-04-25"
        # Writes count too, and a throttled write is not stored for idempotent replay.
        write = await a.post("/patients", json={"patient_id": "t"}, headers={"Idempotency-Key": "t"})
        assert_error(write, 429, "throttled")
        # Another key has its own bucket; /health is never limited.
        assert (await b.get("/patients")).status_code == 200
        for _ in range(5):
            assert (await a.get("/health")).status_code == 200


def test_bucket_refills_over_time() -> None:
    now = [0.0]
    limiter = RateLimiter(rate_per_second=2.0, burst=2, clock=lambda: now[0])
    assert limiter.check("k") is None and limiter.check("k") is None
    assert limiter.check("k") == 1
    now[0] += 0.5  # one token back
    assert limiter.check("k") is None
    assert limiter.check("k") == 1
    slow = RateLimiter(rate_per_second=0.1, burst=1, clock=lambda: now[0])
    assert slow.check("k") is None
    assert slow.check("k") == 10
    assert RateLimiter(rate_per_second=0, burst=0).check("k") is None  # 0 disables limiting


async def test_default_settings_limit_is_configurable_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EHRCONNECT_RATE_LIMIT_PER_SECOND", "7.5")
    monkeypatch.setenv("EHRCONNECT_RATE_LIMIT_BURST", "9")
    settings = Settings()
    assert (settings.rate_limit_per_second, settings.rate_limit_burst) == (7.5, 9)


async def test_unthrottled_client_is_fine(api: httpx.AsyncClient) -> None:
    for _ in range(20):
        assert (await api.get("/patients")).status_code == 200
