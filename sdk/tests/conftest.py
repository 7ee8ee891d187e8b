"""Shared test configuration for the SDK suite.

``unit/`` tests run against ``httpx.MockTransport``; ``integration/`` tests (when present) run
against the real ehrconnect app. Environment variables that the client reads are cleared for
every test so a developer's shell cannot leak into results.
"""

from __future__ import annotations

import pytest

_CLIENT_ENV = (
    "EHRCONNECT_API_KEY",
    "EHRCONNECT_API_URL",
    "EHRCONNECT_API_VERSION",
    "MEDBLOCKS_API_KEY",
    "MEDBLOCKS_API_URL",
    "MEDBLOCKS_API_VERSION",
)


@pytest.fixture(autouse=True)
def _clean_client_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _CLIENT_ENV:
        monkeypatch.delenv(name, raising=False)
