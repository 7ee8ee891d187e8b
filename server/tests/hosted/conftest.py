"""A mock EHR behind the platform's outbound HTTP client (httpx.MockTransport) for hosted tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from hosted_mock_ehr import MockEhr


@pytest.fixture
async def mock_ehr(app: FastAPI) -> AsyncIterator[MockEhr]:
    ehr = MockEhr()
    ctx = app.state.ctx
    await ctx.http.aclose()
    ctx.http = httpx.AsyncClient(transport=httpx.MockTransport(ehr.handler), follow_redirects=False)
    ctx.extras.pop("discovery_cache", None)
    yield ehr
