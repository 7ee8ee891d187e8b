"""All SQL about stored FHIR resources: batch upsert from a sync, deletion marking, listing.

Ordering key: ``Record.seq``, assigned when a (connection, type, id) is first stored and never
changed afterwards, so keyset pages over it are stable while new resources arrive (they get
higher numbers) and while existing ones are updated (they keep theirs).

Allocation must also make commit order match ``seq`` order within one patient, or a reader
paging to the end could miss a lower number committed later. PostgreSQL: numbers come from the
``records_seq`` sequence while the writing transaction holds a per-patient advisory lock until
commit. SQLite: every write transaction holds the database write lock (``BEGIN IMMEDIATE``), so
``max(seq) + 1`` per patient is safe.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, bindparam, delete, exists, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from ehrconnect.kit.ids import new_id
from ehrconnect.models import Record

Resource = dict[str, Any]


@dataclass(frozen=True)
class RecordOwner:
    """Whose records a sync writes: denormalized onto every row for scoped reads."""

    organization_id: str
    environment: str
    patient_pk: str
    connection_id: str
    source_id: str | None


@dataclass
class UpsertStats:
    """What one batch did, per resource type."""

    seen: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


def content_hash(resource: Resource) -> str:
    """SHA-256 of the canonical JSON (sorted keys, no whitespace) of a resource."""
    canonical = json.dumps(resource, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def parse_instant(value: Any) -> datetime | None:
    """FHIR ``instant`` (meta.lastUpdated) -> aware datetime; None when absent or malformed."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


async def _lock_patient(session: AsyncSession, patient_pk: str) -> None:
    if _dialect(session) == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"records:{patient_pk}"})


async def _allocate_seq(session: AsyncSession, patient_pk: str, n: int) -> list[int]:
    if _dialect(session) == "postgresql":
        rows = await session.execute(
            text("SELECT nextval('records_seq') FROM generate_series(1, :n)"), {"n": n}
        )
        return sorted(int(r[0]) for r in rows)
    top = (
        await session.execute(select(func.coalesce(func.max(Record.seq), 0)).where(Record.patient_pk == patient_pk))
    ).scalar_one()
    return list(range(int(top) + 1, int(top) + 1 + n))


async def upsert_resources(
    session: AsyncSession, owner: RecordOwner, resources: Sequence[Resource], fetched_at: datetime
) -> UpsertStats:
    """Store the latest version of each resource (in the caller's transaction).

    New resources are inserted; changed ones (by content hash) are replaced and un-deleted;
    unchanged ones only get ``fetched_at`` (which the full pass uses to find deletions).
    Resources repeated within the batch count once (the last copy wins).
    """
    stats = UpsertStats()
    latest: dict[tuple[str, str], Resource] = {}
    for resource in resources:
        if not isinstance(resource, dict):
            continue
        rtype, rid = resource.get("resourceType"), resource.get("id")
        if isinstance(rtype, str) and isinstance(rid, str) and rtype and rid:
            latest[(rtype, rid)] = resource
    if not latest:
        return stats
    for rtype, _ in latest:
        stats.seen[rtype] += 1
    await _lock_patient(session, owner.patient_pk)
    existing = await _existing(session, owner.connection_id, latest.keys())
    new_rows: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    unchanged: dict[str, list[str]] = defaultdict(list)
    for key, resource in latest.items():
        digest = content_hash(resource)
        meta = resource.get("meta")  # a source may send anything here: only an object has lastUpdated
        last_updated = parse_instant(meta.get("lastUpdated") if isinstance(meta, dict) else None)
        found = existing.get(key)
        if found is None:
            new_rows.append(
                {
                    "id": new_id("record"), "organization_id": owner.organization_id,
                    "environment": owner.environment, "patient_pk": owner.patient_pk,
                    "connection_id": owner.connection_id, "source_id": owner.source_id,
                    "resource_type": key[0], "resource_id": key[1], "resource": resource,
                    "content_hash": digest, "source_last_updated": last_updated, "fetched_at": fetched_at,
                    "deleted_at": None, "created_at": fetched_at, "updated_at": fetched_at,
                }
            )
        elif found[1] != digest or found[2]:
            changed.append(
                {
                    "rid": found[0], "resource": resource, "content_hash": digest,
                    "source_last_updated": last_updated, "fetched_at": fetched_at, "updated_at": fetched_at,
                }
            )
        else:
            unchanged[key[0]].append(key[1])
    if new_rows:
        for row, seq in zip(new_rows, await _allocate_seq(session, owner.patient_pk, len(new_rows)), strict=True):
            row["seq"] = seq
        await _insert(session, new_rows)
        stats.inserted = len(new_rows)
    if changed:
        # Core table, not the ORM entity: an executemany UPDATE keyed by a bound parameter.
        table = Record.__table__
        assert isinstance(table, Table)
        await session.execute(
            update(table)
            .where(table.c.id == bindparam("rid"))
            .values(
                resource=bindparam("resource"), content_hash=bindparam("content_hash"),
                source_last_updated=bindparam("source_last_updated"), fetched_at=bindparam("fetched_at"),
                updated_at=bindparam("updated_at"), deleted_at=None,
            ),
            changed,
        )
        stats.updated = len(changed)
    for rtype, ids in unchanged.items():
        await session.execute(
            update(Record)
            .where(
                Record.connection_id == owner.connection_id, Record.resource_type == rtype,
                Record.resource_id.in_(ids),
            )
            .values(fetched_at=fetched_at)
            .execution_options(synchronize_session=False)
        )
        stats.unchanged += len(ids)
    return stats


async def _existing(
    session: AsyncSession, connection_id: str, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], tuple[str, str, bool]]:
    by_type: dict[str, list[str]] = defaultdict(list)
    for rtype, rid in keys:
        by_type[rtype].append(rid)
    found: dict[tuple[str, str], tuple[str, str, bool]] = {}
    for rtype, ids in by_type.items():
        rows = await session.execute(
            select(Record.id, Record.resource_id, Record.content_hash, Record.deleted_at).where(
                Record.connection_id == connection_id, Record.resource_type == rtype, Record.resource_id.in_(ids)
            )
        )
        for row in rows:
            found[(rtype, row.resource_id)] = (row.id, row.content_hash, row.deleted_at is not None)
    return found


async def _insert(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    # ON CONFLICT keeps the first row's seq if a concurrent writer (a worker that lost its lease
    # mid-transaction) inserted the same key; the content is then replaced.
    dialect = _dialect(session)
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # executemany form (not .values(rows)): one cached statement, batched by the driver layer.
    table = Record.__table__
    assert isinstance(table, Table)
    stmt = insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["connection_id", "resource_type", "resource_id"],
        set_={
            "resource": stmt.excluded.resource, "content_hash": stmt.excluded.content_hash,
            "source_last_updated": stmt.excluded.source_last_updated,
            "fetched_at": stmt.excluded.fetched_at, "updated_at": stmt.excluded.updated_at, "deleted_at": None,
        },
    )
    await session.execute(stmt, rows)


async def mark_deleted(
    session: AsyncSession,
    connection_id: str,
    *,
    not_seen_since: datetime,
    now: datetime,
    exclude_types: Sequence[str] = (),
) -> dict[str, int]:
    """After a complete full pass: resources not fetched since the pass began were deleted at the
    source. Types whose fetch failed in this pass are excluded. Returns counts per type."""
    condition = and_(
        Record.connection_id == connection_id, Record.deleted_at.is_(None), Record.fetched_at < not_seen_since
    )
    if exclude_types:
        condition = and_(condition, Record.resource_type.not_in(list(exclude_types)))
    counts = {
        str(rtype): int(n)
        for rtype, n in await session.execute(
            select(Record.resource_type, func.count()).where(condition).group_by(Record.resource_type)
        )
    }
    if counts:
        await session.execute(
            update(Record).where(condition).values(deleted_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    return counts


async def stored_keys(
    session: AsyncSession, connection_id: str, keys: Iterable[tuple[str, str]]
) -> set[tuple[str, str]]:
    """Which of `keys` are stored (and not deleted) for the connection."""
    found = await _existing(session, connection_id, keys)
    return {key for key, (_, _, deleted) in found.items() if not deleted}


async def delete_for_patient(session: AsyncSession, patient_pk: str) -> None:
    """Remove every stored resource of a patient (patient deletion)."""
    await session.execute(delete(Record).where(Record.patient_pk == patient_pk))


@dataclass(frozen=True)
class RecordRow:
    """One listed record: the ordering key, the source, the resource."""

    seq: int
    source_id: str | None
    resource_type: str
    resource: Resource


async def list_window(
    session: AsyncSession,
    patient_pk: str,
    *,
    types: Sequence[str] | None,
    changed_since: datetime | None,
    after: int | None,
    before: int | None,
    limit: int,
) -> tuple[list[RecordRow], bool, bool]:
    """A page of current (not deleted) records in ``seq`` order.

    With `before` the page is the last `limit` rows before it (paging backwards). Returns the
    rows (ascending) and whether rows exist before the first and after the last of them.
    """
    base = [Record.patient_pk == patient_pk, Record.deleted_at.is_(None)]
    if types:
        base.append(Record.resource_type.in_(list(types)))
    if changed_since is not None:
        base.append(Record.updated_at > changed_since)
    query = select(Record.seq, Record.source_id, Record.resource_type, Record.resource).where(*base)
    if before is not None:
        query = query.where(Record.seq < before).order_by(Record.seq.desc())
    else:
        if after is not None:
            query = query.where(Record.seq > after)
        query = query.order_by(Record.seq.asc())
    rows = [
        RecordRow(int(r.seq), r.source_id, r.resource_type, r.resource)
        for r in await session.execute(query.limit(limit))
    ]
    if before is not None:
        rows.reverse()
    if not rows:
        return rows, False, False
    has_before = bool(
        (await session.execute(select(exists().where(*base, Record.seq < rows[0].seq)))).scalar()
    )
    has_after = bool(
        (await session.execute(select(exists().where(*base, Record.seq > rows[-1].seq)))).scalar()
    )
    return rows, has_before, has_after
