"""Shared fixtures: the platform app on a fresh SQLite or PostgreSQL database per test.

`db_url` is parametrized over both backends. PostgreSQL comes from
EHRCONNECT_TEST_DATABASE_URL (scripts/dev.py starts a throwaway cluster when the server is
installed); without it the PostgreSQL variants skip, unless EHRCONNECT_TEST_REQUIRE_ALL=1 (CI).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from ehrconnect.app import build_context, create_app
from ehrconnect.auth.keys import create_key
from ehrconnect.catalog.seed import seed_sandbox_catalog
from ehrconnect.config import Settings, to_async_url
from ehrconnect.db_migrations import upgrade
from fastapi import FastAPI

PG_URL = os.environ.get("EHRCONNECT_TEST_DATABASE_URL")
REQUIRE_ALL = os.environ.get("EHRCONNECT_TEST_REQUIRE_ALL") == "1"
SANDBOX_ROOT = "http://sandbox.test/sandbox-ehr"
TEST_SECRET = "test-secret-key-0123456789abcdef0123456789"


def require_or_skip(available: bool, what: str) -> None:
    if available:
        return
    if REQUIRE_ALL:
        pytest.fail(f"{what} is required in CI but not available")
    pytest.skip(f"{what} not available")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


def _pg_admin(sql: str) -> None:
    import asyncpg

    async def run() -> None:
        assert PG_URL
        conn = await asyncpg.connect(PG_URL.replace("+asyncpg", ""))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def _pg_url_for(database: str) -> str:
    assert PG_URL
    base, _, _ = to_async_url(PG_URL).rpartition("/")
    return f"{base}/{database}"


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    require_or_skip(PG_URL is not None, "PostgreSQL (EHRCONNECT_TEST_DATABASE_URL)")
    name = f"ehrc_tpl_{uuid.uuid4().hex[:8]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    upgrade(_pg_url_for(name))
    yield name
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated, empty database of each backend."""
    if request.param == "sqlite":
        path = tmp_path / "test.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    template = request.getfixturevalue("pg_template")
    name = f"ehrc_{uuid.uuid4().hex[:12]}"
    _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield _pg_url_for(name)
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        environment="test",
        database_url=db_url,
        data_dir=tmp_path,
        public_url="http://testserver",
        secret_key=TEST_SECRET,  # type: ignore[arg-type]
        sandbox_ehr_enabled=False,
        sandbox_ehr_url=SANDBOX_ROOT,
        embedded_worker=False,
        rate_limit_per_second=1000,
        rate_limit_burst=1000,
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    ctx = build_context(settings)
    async with ctx.db.session() as session:
        await seed_sandbox_catalog(session, SANDBOX_ROOT)
    application = create_app(settings, ctx=ctx)
    yield application
    await ctx.http.aclose()
    await ctx.db.dispose()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


KeyFactory = Callable[..., Awaitable[str]]


@pytest.fixture
def make_key(app: FastAPI) -> KeyFactory:
    """`await make_key("org-a", "sandbox")` -> a new secret key for that tenant."""

    async def factory(org: str = "acme", env: str = "sandbox", **kwargs: object) -> str:
        async with app.state.ctx.db.session() as session:
            key = await create_key(session, organization=org, environment=env, **kwargs)  # type: ignore[arg-type]
        return key.secret

    return factory


@pytest.fixture
async def api(client: httpx.AsyncClient, make_key: KeyFactory) -> httpx.AsyncClient:
    """The test client authenticated as org `acme`, sandbox environment."""
    client.headers["Authorization"] = f"Bearer {await make_key('acme', 'sandbox')}"
    return client
