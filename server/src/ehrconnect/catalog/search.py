"""Catalog search: the one entry point used by `GET /connections` and the picker page.

Ranking: exact name match, then name prefix, then any substring of the name or an alias;
ties by name and id. Keyset pagination over (rank, lower(name), id).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from sqlalchemy import case, func, literal, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from ehrconnect.kit.pagination import InvalidCursor
from ehrconnect.models import FhirSource


@dataclass(frozen=True)
class SearchHit:
    source: FhirSource
    #: The name or alias that matched `q`, when it is not the source's display name.
    matched_name: str | None


@dataclass(frozen=True)
class SearchPage:
    hits: list[SearchHit]
    has_more: bool
    next_cursor: str | None


def _encode(rank: int, name: str, source_id: str) -> str:
    raw = json.dumps([rank, name, source_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[int, str, str]:
    try:
        raw = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode("ascii"))
        rank, name, source_id = json.loads(raw)
    except (binascii.Error, UnicodeError, ValueError, TypeError) as exc:
        raise InvalidCursor(cursor) from exc
    if not isinstance(rank, int) or not isinstance(name, str) or not isinstance(source_id, str):
        raise InvalidCursor(cursor)
    return rank, name, source_id


async def search_sources(
    session: AsyncSession,
    *,
    environment: str,
    q: str | None,
    type_: str | None,
    limit: int,
    starting_after: str | None,
) -> SearchPage:
    """One page of visible, enabled sources matching `q` and `type_`, best first."""
    needle = (q or "").strip().lower()
    lname = func.lower(FhirSource.name)
    rank = (
        case(
            (lname == needle, 0),
            (lname.like(f"{_escape(needle)}%", escape="\\"), 1),
            else_=2,
        )
        if needle
        else literal(0)
    )
    query = select(FhirSource, rank.label("rank"), lname.label("lname")).where(
        FhirSource.environment == environment, FhirSource.hidden.is_(False), FhirSource.disabled.is_(False)
    )
    if type_:
        query = query.where(FhirSource.type == type_.lower())
    if needle:
        pattern = f"%{_escape(needle)}%"
        query = query.where(
            or_(lname.like(pattern, escape="\\"), func.lower(FhirSource.search_text).like(pattern, escape="\\"))
        )
    if starting_after:
        after = _decode(starting_after)
        query = query.where(tuple_(rank, lname, FhirSource.id) > tuple_(*after))
    rows = (await session.execute(query.order_by(rank, lname, FhirSource.id).limit(limit + 1))).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    hits = [SearchHit(row[0], _matched_alias(row[0], needle)) for row in rows]
    next_cursor = _encode(int(rows[-1][1]), str(rows[-1][2]), rows[-1][0].id) if has_more and rows else None
    return SearchPage(hits, has_more, next_cursor)


def _matched_alias(source: FhirSource, needle: str) -> str | None:
    if not needle or needle in source.name.lower():
        return None
    return next((alias for alias in source.aliases or [] if needle in alias.lower()), None)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
