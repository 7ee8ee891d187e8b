"""Migration 0002 matches the models, and autogenerate leaves the search objects alone."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from ehrconnect.catalog.schema import include_object
from ehrconnect.kit.db import make_engine
from ehrconnect.models import Base
from sqlalchemy import inspect

CATALOG_TABLES = {"fhir_sources", "fhir_source_names"}


def _touches_catalog(diff: Any) -> bool:
    items = diff if isinstance(diff, list) else [diff]
    text = repr(items)
    return any(table in text for table in CATALOG_TABLES) or "fhir_source_names_" in text


# SQLAlchemy cannot reflect the expression index (environment, lower(name), id) and says so.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
async def test_no_autogenerate_drift_for_catalog_tables(db_url: str) -> None:
    engine = make_engine(db_url, for_migrations=True)
    try:
        async with engine.connect() as connection:

            def diffs(sync_connection: Any) -> list[Any]:
                context = MigrationContext.configure(
                    sync_connection, opts={"include_object": include_object, "compare_type": True}
                )
                return list(compare_metadata(context, Base.metadata))

            found = await connection.run_sync(diffs)
            tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    finally:
        await engine.dispose()
    assert [d for d in found if _touches_catalog(d)] == []
    if db_url.startswith("sqlite"):
        assert {"fhir_source_names_fts", "fhir_source_names_tri"} <= tables
