"""Fixtures for SDK unit tests: a scripted fake API behind ``httpx.MockTransport``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from ehrconnect_client import AsyncClient, Client
from sdk_fakes import API_KEY, BASE_URL, FakeAPI


@pytest.fixture
def fake() -> FakeAPI:
    return FakeAPI()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(fake: FakeAPI, sleeps: list[float]) -> Iterator[Client]:
    with Client(
        API_KEY,
        base_url=BASE_URL,
        transport=httpx.MockTransport(fake.handler),
        sleep=sleeps.append,
        jitter_source=lambda: 0.5,
        clock=lambda: 1_700_000_000.0,
    ) as c:
        yield c


@pytest.fixture
def make_client(fake: FakeAPI, sleeps: list[float]) -> Iterator[Callable[..., Client]]:
    made: list[Client] = []

    def factory(**kwargs: Any) -> Client:
        kwargs.setdefault("base_url", BASE_URL)
        kwargs.setdefault("api_key", API_KEY)
        kwargs.setdefault("transport", httpx.MockTransport(fake.handler))
        kwargs.setdefault("sleep", sleeps.append)
        kwargs.setdefault("jitter_source", lambda: 0.5)
        kwargs.setdefault("clock", lambda: 1_700_000_000.0)
        c = Client(**kwargs)
        made.append(c)
        return c

    yield factory
    for c in made:
        c.close()


@pytest.fixture
async def aclient(fake: FakeAPI, sleeps: list[float]) -> Any:
    async def fake_sleep(delay: float) -> None:
        sleeps.append(delay)

    async with AsyncClient(
        API_KEY,
        base_url=BASE_URL,
        transport=httpx.MockTransport(fake.handler),
        sleep=fake_sleep,
        jitter_source=lambda: 0.5,
        clock=lambda: 1_700_000_000.0,
    ) as c:
        yield c
