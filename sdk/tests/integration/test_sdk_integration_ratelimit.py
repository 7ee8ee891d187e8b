"""Real 429s from the server's rate limiter: the SDK waits out Retry-After and succeeds."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from ehrconnect_client import RateLimitError


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"rate_limit_per_second": 2.0, "rate_limit_burst": 2}


async def test_rate_limited_reads_are_retried_after_retry_after(make_aclient: Callable[..., Any]) -> None:
    waits: list[float] = []

    async def real_sleep(delay: float) -> None:
        waits.append(delay)
        await asyncio.sleep(delay)

    client = await make_aclient(sleep=real_sleep)
    for _ in range(4):
        page = await client.patients.list()
        assert page.data == []
    assert waits, "the burst of 2 should have been exceeded"
    assert all(w >= 1.0 for w in waits)  # Retry-After is whole seconds >= 1


async def test_rate_limit_error_surfaces_without_retries(make_aclient: Callable[..., Any]) -> None:
    client = await make_aclient(max_retries=0)
    with pytest.raises(RateLimitError) as info:
        for _ in range(5):
            await client.patients.list()
    err = info.value
    assert err.code == "throttled" and err.http_status == 429
    assert err.retry_after is not None and err.retry_after >= 1
