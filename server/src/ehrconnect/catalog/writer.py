"""Bulk, idempotent write of merged import results into `fhir_sources` + `fhir_source_names`.

Idempotent: ids are looked up by (environment, normalized_base_url), so re-importing updates
rows in place and `fhirsrc_` ids never change. Additive: names only accumulate (a name a
directory drops stays searchable until the source is re-created); sources are never deleted
by an import (disable or hide them instead).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from ehrconnect.catalog.formats import NameEntry
from ehrconnect.catalog.importer import (
    ImportSummary,
    MergedSource,
    NameRow,
    ProgressFn,
    make_name_row,
    no_progress,
)
from ehrconnect.catalog.text import fold
from ehrconnect.catalog.vendors import vendor_words
from ehrconnect.kit.ids import new_id
from ehrconnect.kit.time import utcnow
from ehrconnect.models import FhirSource, FhirSourceName

BATCH = 2000
#: The source row keeps a bounded sample; the complete set lives in fhir_source_names.
MAX_ALIASES_ON_SOURCE = 100
MAX_LOCATIONS_ON_SOURCE = 100
#: Rows written past which PostgreSQL statistics are refreshed at the end of the import.
ANALYZE_AFTER = 1000

class StoredName(NamedTuple):
    """What the writer needs of a stored name row."""

    id: int
    name_norm: str
    kind: str
    vendor_text: str
    place_text: str


_COMPARED = (
    "fhir_base_url", "name", "type", "logo_url", "portal_url", "brand", "aliases", "locations", "npis",
    "fhir_version", "search_text", "provenance",
)


async def write_catalog(
    session: AsyncSession,
    environment: str,
    merged: dict[str, MergedSource],
    summary: ImportSummary,
    progress: ProgressFn = no_progress,
) -> None:
    """Upsert every merged source and its names (within the caller's transaction)."""
    started = time.perf_counter()
    table: Any = FhirSource.__table__
    existing = {
        row.normalized_base_url: row
        for row in (await session.execute(select(table).where(table.c.environment == environment))).all()
    }
    names_by_source: dict[str, dict[str, StoredName]] = defaultdict(dict)
    ntable: Any = FhirSourceName.__table__
    name_rows = await session.execute(
        select(ntable.c.id, ntable.c.source_id, ntable.c.dedupe_key, ntable.c.name_norm, ntable.c.kind,
               ntable.c.vendor_text, ntable.c.place_text).where(ntable.c.environment == environment)
    )
    for nid, source_id, key, name_norm, kind, vendor_text, place_text in name_rows.all():
        names_by_source[source_id][key] = StoredName(nid, name_norm, kind, vendor_text, place_text)

    now = utcnow()
    source_inserts: list[dict[str, Any]] = []
    source_updates: list[dict[str, Any]] = []
    name_inserts: list[dict[str, Any]] = []
    name_updates: list[dict[str, Any]] = []
    progress("write", 0, len(merged))
    for index, source in enumerate(merged.values(), 1):
        current = existing.get(source.normalized_url)
        source_id = current.id if current is not None else new_id("fhir_source")
        values = _source_values(source, current)
        if current is None:
            source_inserts.append({
                "id": source_id, "environment": environment, "normalized_base_url": source.normalized_url,
                "disabled": False, "hidden": False, "oauth_client_id": None,
                "created_at": now, "updated_at": now, **values,
            })
            summary.added += 1
        elif any(getattr(current, column) != values[column] for column in _COMPARED):
            source_updates.append({"id": source_id, "updated_at": now, **values})
            summary.updated += 1
        else:
            summary.unchanged += 1
        inserts, updates = _name_changes(
            source, source_id, environment, values["name"], values["type"], names_by_source.get(source_id, {})
        )
        name_inserts += inserts
        name_updates += updates
        if index % BATCH == 0:
            progress("write", BATCH, None)
    progress("write", len(merged) % BATCH, None)

    await _executemany(session, table.insert(), source_inserts)
    await _update_by_id(session, table, source_updates)
    await _insert_names(session, name_inserts)
    await _update_by_id(session, ntable, name_updates)
    summary.names_added += len(name_inserts)
    if len(source_inserts) + len(name_inserts) > ANALYZE_AFTER and session.get_bind().dialect.name == "postgresql":
        # Fresh statistics: before autovacuum gets to a bulk-loaded table, the planner takes
        # it for empty and picks nested loops over the full-text matches (100x slower).
        await session.execute(text("ANALYZE fhir_sources"))
        await session.execute(text("ANALYZE fhir_source_names"))
    summary.seconds += time.perf_counter() - started


async def _executemany(session: AsyncSession, statement: Any, rows: Sequence[dict[str, Any]]) -> None:
    # Core statements: one DB-API executemany per batch (the ORM bulk path would add
    # per-row work and, with autoincrement keys, per-row round trips on aiosqlite).
    for start in range(0, len(rows), BATCH):
        await session.execute(statement, list(rows[start : start + BATCH]))


_NAME_COLUMNS = (
    "source_id", "environment", "name", "name_norm", "kind", "npi", "city", "state", "postal_code",
    "place_text", "vendor_text", "dedupe_key", "origin",
)


async def _insert_names(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert name rows; on SQLite through a staging table and one INSERT ... SELECT.

    The FTS5 sync triggers are per row; run from an executemany, every row is its own
    statement and FTS5 flushes its pending index at each statement savepoint (tiny segments,
    ~10x slower). One INSERT ... SELECT keeps the triggers and a single flush.
    """
    if not rows:
        return
    if session.get_bind().dialect.name != "sqlite":
        names_table: Any = FhirSourceName.__table__
        await _executemany(session, names_table.insert(), rows)
        return
    columns = ", ".join(_NAME_COLUMNS)
    await session.execute(text("DROP TABLE IF EXISTS temp.catalog_names_stage"))
    await session.execute(text(f"CREATE TEMP TABLE catalog_names_stage ({columns})"))
    values = ", ".join(f":{c}" for c in _NAME_COLUMNS)
    # Column lists are the constants above; every value is bound.
    stage_insert = f"INSERT INTO temp.catalog_names_stage ({columns}) VALUES ({values})"  # noqa: S608
    await _executemany(session, text(stage_insert), rows)
    copy = f"INSERT INTO fhir_source_names ({columns}) SELECT {columns} FROM temp.catalog_names_stage"  # noqa: S608
    await session.execute(text(copy))
    await session.execute(text("DROP TABLE temp.catalog_names_stage"))


async def _update_by_id(session: AsyncSession, table: Any, rows: list[dict[str, Any]]) -> None:
    """executemany UPDATE ... WHERE id = :_id, grouped by the set of columns changed."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        columns = tuple(sorted(k for k in row if k != "id"))
        groups[columns].append({"_id": row["id"], **{k: row[k] for k in columns}})
    for columns, batch in groups.items():
        statement = table.update().where(table.c.id == bindparam("_id")).values(
            {c: bindparam(c) for c in columns}
        )
        await _executemany(session, statement, batch)


def _source_values(source: MergedSource, current: Any | None) -> dict[str, Any]:
    """Column values for a source, merged with what is stored (display name by priority)."""
    provenance: dict[str, Any] = dict(current.provenance or {}) if current is not None else {}
    stored_priority = int(provenance.get("name_priority", -1))
    stored_origins: list[str] = list(provenance.get("origins", []))
    display = source.final_display_name()
    keep_stored = (
        current is not None
        and not source.shared
        and (source.priority_of_display < stored_priority
             or (source.priority_of_display == stored_priority
                 and provenance.get("name_origin") not in source.origins))
    )
    name = current.name if keep_stored and current is not None else display
    name_priority = stored_priority if keep_stored else source.priority_of_display
    name_origin = provenance.get("name_origin") if keep_stored else (source.origins[0] if source.origins else None)
    origins = list(dict.fromkeys(stored_origins + source.origins))
    aliases = list(dict.fromkeys(
        [*(current.aliases or [] if current is not None else []),
         *(row.name for row in source.names.values() if row.name and row.name != name)]
    ))[:MAX_ALIASES_ON_SOURCE]
    locations = _dedupe_dicts(
        [*(current.locations or [] if current is not None else []),
         *({"city": r.city, "state": r.state, "postal_code": r.postal_code}
           for r in source.names.values() if r.city or r.state or r.postal_code)]
    )[:MAX_LOCATIONS_ON_SOURCE]
    npis = list(dict.fromkeys(
        [*(current.npis or [] if current is not None else []), *(r.npi for r in source.names.values() if r.npi)]
    ))[:MAX_ALIASES_ON_SOURCE]
    vendor_type = source.vendor_type or (current.type if current is not None else None)
    brand = source.brand or (current.brand if current is not None else None)
    return {
        "fhir_base_url": source.url[:1000],
        "name": name[:500],
        "type": vendor_type,
        "logo_url": source.logo_url or (current.logo_url if current is not None else None),
        "portal_url": source.portal_url or (current.portal_url if current is not None else None),
        "brand": brand,
        "aliases": aliases,
        "locations": locations,
        "npis": npis,
        "fhir_version": source.fhir_version or (current.fhir_version if current is not None else None),
        "search_text": " ".join(p for p in (fold(name), fold(brand or ""), vendor_words(vendor_type)) if p),
        "provenance": {
            "importers": sorted(set(provenance.get("importers", [])) | source.formats),
            "origins": origins[:50],
            "name_priority": name_priority,
            "name_origin": name_origin,
            "shared": source.shared or bool(provenance.get("shared")),
        },
    }


def _name_changes(
    source: MergedSource,
    source_id: str,
    environment: str,
    display_name: str,
    vendor_type: str | None,
    stored: dict[str, StoredName],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows to insert, and updates so that exactly one row is primary and derived text is current."""
    display_norm = fold(display_name)
    vendor_text = vendor_words(vendor_type)
    candidates: dict[str, NameRow] = dict(source.names)
    origin = source.origins[0] if source.origins else "import"
    if source.brand and fold(source.brand) != display_norm:
        brand_row = make_name_row(NameEntry(name=source.brand, kind="brand"), origin)
        if brand_row is not None:
            candidates.setdefault(brand_row.dedupe_key, brand_row)
    if not any(r.name_norm == display_norm for r in candidates.values()) and not any(
        v.name_norm == display_norm for v in stored.values()
    ):
        # Shared and nameless sources: the display name is a searchable name of its own.
        display_row = make_name_row(NameEntry(name=display_name), origin)
        if display_row is not None:
            candidates[display_row.dedupe_key] = display_row
    keys = sorted({k for k, r in candidates.items() if r.name_norm == display_norm}
                  | {k for k, v in stored.items() if v.name_norm == display_norm})
    primary_key = keys[0] if keys else None

    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for key, row in candidates.items():
        kind = "primary" if key == primary_key else ("brand" if row.kind == "brand" else "alias")
        text = vendor_text if kind == "primary" else ""
        if key in stored:
            old = stored[key]
            if (old.kind, old.vendor_text, old.place_text) != (kind, text, row.place_text):
                updates.append({"id": old.id, "kind": kind, "vendor_text": text, "place_text": row.place_text})
            continue
        inserts.append({
            "source_id": source_id, "environment": environment, "name": row.name, "name_norm": row.name_norm,
            "kind": kind, "npi": row.npi, "city": row.city, "state": row.state, "postal_code": row.postal_code,
            "place_text": row.place_text, "vendor_text": text, "dedupe_key": row.dedupe_key, "origin": row.origin,
        })
    for key, old in stored.items():
        if key in candidates:
            continue
        kind = "primary" if key == primary_key else ("alias" if old.kind == "primary" else old.kind)
        text = vendor_text if kind == "primary" else ""
        if (old.kind, old.vendor_text) != (kind, text):
            updates.append({"id": old.id, "kind": kind, "vendor_text": text})
    return inserts, updates


def _dedupe_dicts(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[tuple[Any, ...]] = set()
    result = []
    for item in items:
        key = tuple(sorted(item.items()))
        if key not in seen:
            seen.add(key)
            result.append(item)
    return result
