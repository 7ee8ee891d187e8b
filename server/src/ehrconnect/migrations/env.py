"""Alembic environment: runs migrations on the async engine for SQLite or PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection

from ehrconnect.kit.db import make_engine
from ehrconnect.models import Base

config = context.config
target_metadata = Base.metadata

#: Backend-specific search objects created by migration 0002 and absent from the metadata
#: (FTS5 tables and their shadow tables, the tsvector column, GIN and expression indexes).
SEARCH_OBJECT_PREFIXES = ("fhir_source_names_fts", "fhir_source_names_tri")
SEARCH_OBJECT_NAMES = frozenset(
    {"search_tsv", "ix_fhir_source_names_tsv", "ix_fhir_source_names_trgm", "ix_fhir_sources_browse"}
)


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Keep autogenerate from proposing to drop the catalog search objects."""
    search_object = name is not None and (name in SEARCH_OBJECT_NAMES or name.startswith(SEARCH_OBJECT_PREFIXES))
    return not (reflected and compare_to is None and search_object)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = make_engine(url, for_migrations=True)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url must be set by ehrconnect.db_migrations"
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    asyncio.run(_run_async(url))


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run `ehrconnect db upgrade`")
run_migrations_online()
