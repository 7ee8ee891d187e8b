"""Fixtures for the sandbox EHR tests (helpers live in sandbox_helpers.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sandbox_helpers import Portal, make_settings, run_server


@pytest.fixture(scope="session")
def sandbox_url() -> Iterator[str]:
    """Root URL of a shared sandbox server with the test clients and a 300-resource large patient."""
    with run_server(make_settings(large_patients=[300])) as url:
        yield url


@pytest.fixture
def server_factory() -> Iterator[Callable[..., str]]:
    """Start extra servers with custom settings for one test."""
    stack: list[Any] = []

    def start(mount: str = "", **overrides: Any) -> str:
        context = run_server(make_settings(**overrides), mount=mount)
        stack.append(context)
        return context.__enter__()

    yield start
    for context in reversed(stack):
        context.__exit__(None, None, None)


@pytest.fixture
def portal(sandbox_url: str) -> Iterator[Portal]:
    """A portal driver against the shared server's ``normal`` profile."""
    driver = Portal(sandbox_url)
    yield driver
    driver.close()
