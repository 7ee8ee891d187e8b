"""Catalog fixtures: a fully imported catalog per backend, built once per session.

Importing all of ../shared/data/catalog takes seconds, so each backend gets one imported
database, shared read-only by the query tests.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from catalog_support import CATALOG_DIR, pg_admin, pg_url_for, require_catalog_data, run_import


@pytest.fixture(scope="session")
def full_catalog_sqlite(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    require_catalog_data()
    path = tmp_path_factory.mktemp("catalog") / "catalog.sqlite3"
    shutil.copy(sqlite_template, path)
    url = f"sqlite+aiosqlite:///{path}"
    asyncio.run(run_import(url, [CATALOG_DIR]))
    return url


@pytest.fixture(scope="session")
def full_catalog_postgres(pg_template: str) -> Iterator[str]:
    require_catalog_data()
    name = f"ehrc_catalog_{uuid.uuid4().hex[:8]}"
    pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    url = pg_url_for(name)
    asyncio.run(run_import(url, [CATALOG_DIR]))
    yield url
    pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def full_catalog_url(request: pytest.FixtureRequest) -> str:
    """A database holding every file of ../shared/data/catalog (live), per backend."""
    return str(request.getfixturevalue(f"full_catalog_{request.param}"))
