"""The SDK against the real ehrconnect app: in-process (ASGI) and over real HTTP (uvicorn).

Each test gets a freshly migrated SQLite database with the sandbox catalog seeded and an API
key for a sandbox tenant. Skipped when the server package is not installed.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("ehrconnect.app", reason="the ehrconnect server package is not installed")

from ehrconnect.app import build_context, create_app
from ehrconnect.auth.keys import create_key
from ehrconnect.catalog.seed import seed_sandbox_catalog
from ehrconnect.config import Settings
from ehrconnect.db_migrations import upgrade
from ehrconnect_client import AsyncClient, Client

SANDBOX_ROOT = "http://sandbox.test/sandbox-ehr"
TEST_SECRET = "sdk-integration-secret-0123456789abcdef0123"


@pytest.fixture(scope="session")
def sdk_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sdk-sqlite-template") / "template.sqlite3"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


def _settings(db_path: Path, data_dir: Path, public_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        environment="test",
        database_url=f"sqlite+aiosqlite:///{db_path}",
        data_dir=data_dir,
        public_url=public_url,
        secret_key=TEST_SECRET,
        sandbox_ehr_enabled=False,
        sandbox_ehr_url=SANDBOX_ROOT,
        embedded_worker=False,
        rate_limit_per_second=1000,
        rate_limit_burst=1000,
    )
    values.update(overrides)
    return Settings(**values)


def _fresh_db(template: Path, tmp_path: Path) -> Path:
    path = tmp_path / "sdk.sqlite3"
    path.write_bytes(template.read_bytes())
    return path


async def _provision(settings: Settings, tenants: list[tuple[str, str]], *, seed: bool = True) -> list[str]:
    """Seed the sandbox catalog (unless the app seeds it at startup) and mint one key per
    (organization, environment)."""
    ctx = build_context(settings)
    try:
        if seed:
            async with ctx.db.session() as session:
                await seed_sandbox_catalog(session, SANDBOX_ROOT)
        keys = []
        for org, env in tenants:
            async with ctx.db.session() as session:
                keys.append((await create_key(session, organization=org, environment=env)).secret)
        return keys
    finally:
        await ctx.http.aclose()
        await ctx.db.dispose()


# -- in-process: AsyncClient over httpx.ASGITransport ------------------------------------------


KeyFactory = Callable[[str, str], Awaitable[str]]


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    """Settings overrides for `asgi_app`; override this fixture in a test module to tune them."""
    return {}


@pytest.fixture
async def asgi_app(sdk_sqlite_template: Path, tmp_path: Path, app_overrides: dict[str, Any]) -> AsyncIterator[Any]:
    db = _fresh_db(sdk_sqlite_template, tmp_path)
    settings = _settings(db, tmp_path, "http://localhost", **app_overrides)
    ctx = build_context(settings)
    async with ctx.db.session() as session:
        await seed_sandbox_catalog(session, SANDBOX_ROOT)
    app = create_app(settings, ctx=ctx)
    yield app
    await ctx.http.aclose()
    await ctx.db.dispose()


@pytest.fixture
def mint_key(asgi_app: Any) -> KeyFactory:
    async def factory(org: str = "acme", env: str = "sandbox") -> str:
        async with asgi_app.state.ctx.db.session() as session:
            return (await create_key(session, organization=org, environment=env)).secret

    return factory


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
async def make_aclient(asgi_app: Any, mint_key: KeyFactory, sleeps: list[float]) -> AsyncIterator[Callable[..., Any]]:
    made: list[AsyncClient] = []

    async def no_sleep(delay: float) -> None:
        sleeps.append(delay)

    async def factory(api_key: str | None = None, **kwargs: Any) -> AsyncClient:
        key = api_key if api_key is not None else await mint_key("acme", "sandbox")
        kwargs.setdefault("base_url", "http://localhost")
        kwargs.setdefault("transport", httpx.ASGITransport(app=asgi_app))
        kwargs.setdefault("sleep", no_sleep)
        c = AsyncClient(key, **kwargs)
        made.append(c)
        return c

    yield factory
    for c in made:
        await c.aclose()


@pytest.fixture
async def aclient(make_aclient: Callable[..., Any]) -> AsyncClient:
    client: AsyncClient = await make_aclient()
    return client


# -- real HTTP: Client against uvicorn on a loopback port ---------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _LiveServer:
    """uvicorn serving the app in a background thread (its own event loop)."""

    def __init__(self, app: Any, port: int) -> None:
        import uvicorn

        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", ws="none")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"sdk-uvicorn-{port}", daemon=True)

    def __enter__(self) -> _LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


class Live:
    """A running server plus keys for two tenants (acme/sandbox and other/sandbox)."""

    def __init__(self, url: str, key: str, other_key: str, app: Any = None) -> None:
        self.url = url
        self.key = key
        self.other_key = other_key
        # The OpenAPI document lists every JSON API route the running version serves.
        self.route_paths: set[str] = set(app.openapi()["paths"]) if app is not None else set()

    def has_route(self, path: str) -> bool:
        """Whether the running server version serves `path` (a route template)."""
        return path in self.route_paths


@pytest.fixture
def live(sdk_sqlite_template: Path, tmp_path: Path) -> Iterator[Live]:
    port = _free_port()
    settings = _settings(_fresh_db(sdk_sqlite_template, tmp_path), tmp_path, f"http://127.0.0.1:{port}")
    key, other_key = asyncio.run(_provision(settings, [("acme", "sandbox"), ("other", "sandbox")]))
    # The app builds its own context inside uvicorn's loop: engines never cross event loops.
    app = create_app(settings)
    with _LiveServer(app, port) as server:
        yield Live(server.url, key, other_key, app)


@pytest.fixture
def live_client(live: Live) -> Iterator[Client]:
    with Client(live.key, base_url=live.url, timeout=10.0) as c:
        yield c


@pytest.fixture
def live_sandbox(sdk_sqlite_template: Path, tmp_path: Path) -> Iterator[Live]:
    """The platform with its built-in sandbox EHR mounted at /sandbox-ehr, over real HTTP.

    The platform reaches the sandbox's token endpoint through its own public URL, so this needs
    a real listening server rather than an in-process transport.
    """
    port = _free_port()
    settings = _settings(
        _fresh_db(sdk_sqlite_template, tmp_path),
        tmp_path,
        f"http://127.0.0.1:{port}",
        sandbox_ehr_enabled=True,
        sandbox_ehr_url=None,
        embedded_worker=True,
        worker_poll_seconds=0.1,
    )
    key, other_key = asyncio.run(_provision(settings, [("acme", "sandbox"), ("other", "sandbox")], seed=False))
    app = create_app(settings)
    with _LiveServer(app, port) as server:
        yield Live(server.url, key, other_key, app)
