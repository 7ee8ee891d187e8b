"""Names of the backend-specific catalog search objects (migration 0002), for autogenerate.

They are not in the SQLAlchemy metadata (FTS5 virtual tables and their shadow tables, the
generated tsvector column, GIN and expression indexes), so autogenerate must not propose to
drop them; migrations/env.py passes `include_object` to Alembic.
"""

from __future__ import annotations

from typing import Any

SEARCH_OBJECT_PREFIXES = ("fhir_source_names_fts", "fhir_source_names_tri")
SEARCH_OBJECT_NAMES = frozenset(
    {"search_tsv", "ix_fhir_source_names_tsv", "ix_fhir_source_names_trgm", "ix_fhir_sources_browse"}
)


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """False for database-only catalog search objects; True for everything else."""
    search_object = name is not None and (name in SEARCH_OBJECT_NAMES or name.startswith(SEARCH_OBJECT_PREFIXES))
    return not (reflected and compare_to is None and search_object)
