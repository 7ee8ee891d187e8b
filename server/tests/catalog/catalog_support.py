"""Catalog test helpers: where the real directory files are, and an import runner.

The data lives beside the repository (`<repo>/../shared/data/catalog`, as CI lays it out).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from ehrconnect.catalog.cli import import_paths
from ehrconnect.catalog.importer import ImportSummary
from ehrconnect.config import to_async_url
from ehrconnect.kit.db import Database

CATALOG_DIR = (Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "catalog").resolve()
LANTERN = CATALOG_DIR / "lantern"
ORACLE = CATALOG_DIR / "oracle-ignite"
BRANDS = CATALOG_DIR / "smart-app-launch-brands-examples"


def pg_admin(sql: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(os.environ["EHRCONNECT_TEST_DATABASE_URL"].replace("+asyncpg", ""))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def pg_url_for(database: str) -> str:
    base, _, _ = to_async_url(os.environ["EHRCONNECT_TEST_DATABASE_URL"]).rpartition("/")
    return f"{base}/{database}"


def require_catalog_data() -> None:
    if not (LANTERN / "Epic_Systems_Corporation_EndpointSources.json").is_file():
        pytest.skip(f"catalog data not found at {CATALOG_DIR}")


async def run_import(url: str, paths: list[Path], environment: str = "live") -> ImportSummary:
    """Import `paths` into the database at `url`, as `ehrconnect catalog import` does."""
    db = Database(url)
    try:
        async with db.session() as session:
            return await import_paths(session, paths, environment)
    finally:
        await db.dispose()


