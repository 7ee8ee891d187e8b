"""Fixtures for the SMART client tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from smart_testkit import FakeClock, MockServer


@pytest.fixture
def server() -> MockServer:
    return MockServer()


@pytest.fixture
async def http(server: MockServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(server.handle)) as client:
        yield client


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
