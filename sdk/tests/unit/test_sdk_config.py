"""Base URL safety, environment fallbacks and defaults."""

from __future__ import annotations

import httpx
import pytest
from ehrconnect_client import DEFAULT_API_VERSION, AsyncClient, Client, ConfigurationError
from sdk_fakes import TS, FakeAPI, reply


def mock(fake: FakeAPI) -> httpx.MockTransport:
    return httpx.MockTransport(fake.handler)


@pytest.mark.parametrize(
    "url",
    [
        "http://api.example.com",
        "http://10.0.0.5:8000",
        "http://localhost.evil.com",
        "ftp://api.example.com",
        "api.example.com",
        "https://",
        "https://user:pw@api.example.com",
        "https://api.example.com/?x=1",
        "https://api.example.com/#frag",
    ],
)
def test_refuses_unsafe_base_urls(url: str) -> None:
    with pytest.raises(ConfigurationError):
        Client("k", base_url=url)


@pytest.mark.parametrize(
    "url",
    [
        "https://api.example.com",
        "HTTPS://API.example.com/",
        "http://localhost:8000",
        "http://127.0.0.1:9",
        "http://[::1]:8080/api",
    ],
)
def test_accepts_https_and_loopback_http(url: str) -> None:
    with Client("k", base_url=url) as c:
        assert not c.base_url.endswith("/")


def test_async_client_applies_the_same_check() -> None:
    with pytest.raises(ConfigurationError, match="https"):
        AsyncClient("k", base_url="http://example.org")


def test_configuration_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        Client("k", base_url="http://example.org")


def test_env_fallbacks_ehrconnect(monkeypatch: pytest.MonkeyPatch, fake: FakeAPI) -> None:
    monkeypatch.setenv("EHRCONNECT_API_KEY", "mb_sk_sbx_from_env")
    monkeypatch.setenv("EHRCONNECT_API_URL", "https://env.example.test")
    monkeypatch.setenv("EHRCONNECT_API_VERSION", "2026-12-01")
    fake.add(reply(body={"ok": True, "server_time": TS}))
    with Client(transport=mock(fake)) as c:
        c.health()
    assert str(fake.last.url) == "https://env.example.test/health"
    assert fake.last.headers["authorization"] == "Bearer mb_sk_sbx_from_env"
    assert fake.last.headers["version"] == "2026-12-01"


def test_env_fallbacks_medblocks(monkeypatch: pytest.MonkeyPatch, fake: FakeAPI) -> None:
    monkeypatch.setenv("MEDBLOCKS_API_KEY", "mb_sk_live_mb")
    monkeypatch.setenv("MEDBLOCKS_API_URL", "https://mb.example.test")
    monkeypatch.setenv("MEDBLOCKS_API_VERSION", "2026-05-05")
    fake.add(reply(body={"ok": True, "server_time": TS}))
    with Client(transport=mock(fake)) as c:
        c.health()
    assert fake.last.url.host == "mb.example.test"
    assert fake.last.headers["authorization"] == "Bearer mb_sk_live_mb"
    assert fake.last.headers["version"] == "2026-05-05"


def test_ehrconnect_env_wins_over_medblocks_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EHRCONNECT_API_URL", "https://ours.example.test")
    monkeypatch.setenv("MEDBLOCKS_API_URL", "https://theirs.example.test")
    with Client("k") as c:
        assert c.base_url == "https://ours.example.test"


def test_explicit_arguments_win_over_env(monkeypatch: pytest.MonkeyPatch, fake: FakeAPI) -> None:
    monkeypatch.setenv("EHRCONNECT_API_KEY", "env-key")
    monkeypatch.setenv("EHRCONNECT_API_URL", "https://env.example.test")
    monkeypatch.setenv("EHRCONNECT_API_VERSION", "1999-01-01")
    fake.add(reply(body={"ok": True, "server_time": TS}))
    with Client("arg-key", base_url="https://arg.example.test", api_version="2026-04-25", transport=mock(fake)) as c:
        c.health()
    assert fake.last.url.host == "arg.example.test"
    assert fake.last.headers["authorization"] == "Bearer arg-key"
    assert fake.last.headers["version"] == "2026-04-25"


def test_env_url_is_validated_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EHRCONNECT_API_URL", "http://prod.example.com")
    with pytest.raises(ConfigurationError):
        Client("k")


def test_default_version() -> None:
    assert DEFAULT_API_VERSION == "2026-04-25"
    with Client("k", base_url="https://x.test") as c:
        assert c.api_version == "2026-04-25"


def test_missing_key_and_url_are_clear_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="EHRCONNECT_API_KEY"):
        Client(base_url="https://x.test")
    with pytest.raises(ConfigurationError, match="EHRCONNECT_API_URL"):
        Client("k")
    monkeypatch.setenv("EHRCONNECT_API_KEY", "   ")
    with pytest.raises(ConfigurationError):
        Client(base_url="https://x.test")


def test_repr_never_shows_the_key() -> None:
    with Client("mb_sk_live_supersecret", base_url="https://x.test") as c:
        assert "supersecret" not in repr(c)
        assert "supersecret" not in repr(c._core.config)


def test_with_options_shares_pool_and_overrides(fake: FakeAPI) -> None:
    fake.add(reply(body={"ok": True, "server_time": TS}))
    with Client("k", base_url="https://x.test", transport=mock(fake), max_retries=5) as c:
        other = c.with_options(max_retries=0, api_version="2030-01-01")
        assert (c.max_retries, other.max_retries) == (5, 0)
        other.health()
        other.close()  # not the owner: must leave the shared pool open
        assert not c._http.is_closed
    assert fake.last.headers["version"] == "2030-01-01"


def test_transport_and_http_client_are_exclusive(fake: FakeAPI) -> None:
    http = httpx.Client()
    try:
        with pytest.raises(ConfigurationError):
            Client("k", base_url="https://x.test", transport=mock(fake), http_client=http)
    finally:
        http.close()
