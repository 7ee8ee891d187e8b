"""Catalog search: the one entry point used by `GET /connections` and the picker page.

- `q` shorter than 2 letters/digits (after folding): no search; the catalog is listed
  alphabetically (recommended sources first), with keyset pagination over (name, id).
- otherwise: candidates from the backend index (`catalog.index`), ranked by
  `catalog.ranking` (exact, prefix, all words, other fields, typos), one result per source
  (its best-matching name is `matched_name` when that is not the display name). When word
  matching finds fewer than `FUZZY_WHEN_FEWER` sources and no name equal to or starting with
  the query, typo-tolerant trigram candidates are added. Pagination: the cursor names the
  last result (its rank numbers and source id); the next page is every result after it in
  the same total order, so pages never overlap or skip.
- Hidden and disabled sources never appear.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from ehrconnect.catalog.index import IndexQuery, fetch_candidates, index_for
from ehrconnect.catalog.ranking import Candidate, ParsedQuery, SortKey, parse_query, rank
from ehrconnect.catalog.text import fold
from ehrconnect.kit.pagination import InvalidCursor
from ehrconnect.models import FhirSource

FUZZY_WHEN_FEWER = 5


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


def encode_cursor(mode: str, key: Sequence[Any]) -> str:
    raw = json.dumps([mode, *key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, mode: str, shape: Sequence[type]) -> list[Any]:
    """The key a cursor of `mode` carries; InvalidCursor unless it has exactly `shape`."""
    try:
        raw = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode("ascii"))
        value = json.loads(raw)
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise InvalidCursor(cursor) from exc
    if not isinstance(value, list) or len(value) != len(shape) + 1 or value[0] != mode:
        raise InvalidCursor(cursor)
    key = value[1:]
    for item, kind in zip(key, shape, strict=True):
        if type(item) is not kind:
            raise InvalidCursor(cursor)
    return key


_SEARCH_SHAPE = (int, int, int, int, int, int, str)
_BROWSE_SHAPE = (int, str)


async def search_sources(
    session: AsyncSession,
    *,
    environment: str,
    q: str | None,
    type_: str | None,
    limit: int,
    starting_after: str | None,
    recommended_ids: Sequence[str] = (),
) -> SearchPage:
    """One page of visible, enabled sources matching `q` and `type_`, best first."""
    query = parse_query(q)
    recommended = frozenset(recommended_ids)
    if query is None:
        return await _browse(session, environment, type_, limit, starting_after, recommended)
    after = decode_cursor(starting_after, "s", _SEARCH_SHAPE) if starting_after else None
    ranked = await ranked_candidates(session, environment, query, type_, recommended)
    if after is not None:
        ranked = _after(ranked, after)
    page = ranked[: limit + 1]
    has_more = len(page) > limit
    page = page[:limit]
    sources = await _load_sources(session, [candidate.source_id for _, candidate in page])
    hits = [
        SearchHit(sources[c.source_id], _matched_name(sources[c.source_id], c))
        for _, c in page
        if c.source_id in sources
    ]
    next_cursor = encode_cursor("s", [*page[-1][0][:6], page[-1][1].source_id]) if has_more and page else None
    return SearchPage(hits, has_more, next_cursor)


def _after(ranked: list[tuple[SortKey, Candidate]], cursor: list[Any]) -> list[tuple[SortKey, Candidate]]:
    """Results after the cursor's source; if it left the results, after its rank instead.

    Cursors stay short (the API caps them at 200 characters), so they carry the rank
    numbers and source id, not the matched name that breaks ties between them.
    """
    source_id = cursor[-1]
    for position, (_, candidate) in enumerate(ranked):
        if candidate.source_id == source_id:
            return ranked[position + 1 :]
    bound = tuple(cursor[:-1])
    return [item for item in ranked if (item[0][:6], item[1].source_id) > (bound, source_id)]


async def ranked_candidates(
    session: AsyncSession,
    environment: str,
    query: ParsedQuery,
    type_: str | None,
    recommended: frozenset[str] = frozenset(),
) -> list[tuple[SortKey, Candidate]]:
    """Every matching source (best name each), in result order."""
    ranked, _ = await _ranked_with_plan(session, environment, query, type_, recommended)
    return ranked


async def index_queries_for(
    session: AsyncSession, environment: str, q: str, type_: str | None = None
) -> list[IndexQuery]:
    """The index statements a search for `q` runs (the benchmark times them raw)."""
    query = parse_query(q)
    if query is None:
        return []
    _, plan = await _ranked_with_plan(session, environment, query, type_, frozenset())
    return plan


async def _ranked_with_plan(
    session: AsyncSession,
    environment: str,
    query: ParsedQuery,
    type_: str | None,
    recommended: frozenset[str],
) -> tuple[list[tuple[SortKey, Candidate]], list[IndexQuery]]:
    index = index_for(session)
    word = index.word_query(environment, query, type_)
    plan = [word]
    candidates = await fetch_candidates(session, word, recommended)
    ranked = rank(query, candidates)
    # Typos are looked for only when word matching found few sources and none whose name
    # is the query or starts with it (the patient typed a name right: no need to guess).
    exact_hit = bool(ranked) and ranked[0][0][0] <= 1
    if len(ranked) < FUZZY_WHEN_FEWER and not exact_hit and query.fuzzy_possible:
        fuzzy = index.fuzzy_query(environment, query, type_)
        if fuzzy is not None:
            plan.append(fuzzy)
            candidates += await fetch_candidates(session, fuzzy, recommended)
            ranked = rank(query, candidates)
    return ranked, plan


def _matched_name(source: FhirSource, candidate: Candidate) -> str | None:
    return None if fold(candidate.name) == fold(source.name) else candidate.name


async def _load_sources(session: AsyncSession, ids: list[str]) -> dict[str, FhirSource]:
    if not ids:
        return {}
    rows = (await session.execute(select(FhirSource).where(FhirSource.id.in_(ids)))).scalars().all()
    return {source.id: source for source in rows}


async def _browse(
    session: AsyncSession,
    environment: str,
    type_: str | None,
    limit: int,
    starting_after: str | None,
    recommended: frozenset[str],
) -> SearchPage:
    """Visible sources alphabetically, recommended ones first; keyset over (rec, lower(name), id)."""
    lname = func.lower(FhirSource.name)
    rec = case((FhirSource.id.in_(recommended), 0), else_=1) if recommended else None
    columns: list[Any] = [FhirSource, lname.label("lname")]
    order: list[Any] = [lname, FhirSource.id]
    if rec is not None:
        columns.append(rec.label("rec"))
        order.insert(0, rec)
    query = select(*columns).where(
        FhirSource.environment == environment, FhirSource.hidden.is_(False), FhirSource.disabled.is_(False)
    )
    if type_:
        query = query.where(FhirSource.type == type_.lower())
    if starting_after:
        rec_after, id_after = decode_cursor(starting_after, "b", _BROWSE_SHAPE)
        # The cursor names the last source; its sort name is looked up (keeps cursors short).
        name_after = await session.scalar(select(lname).where(FhirSource.id == id_after))
        if name_after is None:
            raise InvalidCursor(starting_after)
        if rec is not None:
            query = query.where(tuple_(rec, lname, FhirSource.id) > tuple_(rec_after, name_after, id_after))
        else:
            query = query.where(tuple_(lname, FhirSource.id) > tuple_(name_after, id_after))
    rows = (await session.execute(query.order_by(*order).limit(limit + 1))).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    hits = [SearchHit(row[0], None) for row in rows]
    next_cursor = None
    if has_more and rows:
        last = rows[-1]
        next_cursor = encode_cursor("b", [int(last[2]) if rec is not None else 1, last[0].id])
    return SearchPage(hits, has_more, next_cursor)
