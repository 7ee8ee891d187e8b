"""Candidate retrieval over `fhir_source_names`: one interface, a SQLite and a PostgreSQL index.

Both return name rows of visible, enabled sources (optionally of one vendor type):
- `word_candidates`: every query word (or a synonym) matches a word or word prefix in any
  indexed column (FTS5 `MATCH` on SQLite; `tsvector @@ tsquery` on PostgreSQL), best first
  by the engine's weighted relevance (bm25 / ts_rank; name and NPI weigh most).
- `fuzzy_candidates`: names containing, for every query word, one of its typo-proof pieces
  (`typo_pieces`), via trigram indexes (FTS5 trigram tokenizer / pg_trgm GIN), for typos.

The final order is decided in `ranking`, identically for both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from ehrconnect.catalog.ranking import Candidate, ParsedQuery
from ehrconnect.catalog.text import typo_budget

#: Upper bounds on candidate name rows per query (results past them are not reachable;
#: a patient refines the query long before).
WORD_CANDIDATES = 600
FUZZY_CANDIDATES = 200

_COLUMNS = "n.source_id, n.name, n.name_norm, n.kind, n.npi, n.place_text, n.vendor_text"
_VISIBLE = "s.environment = :env AND s.hidden = :false AND s.disabled = :false"


@dataclass(frozen=True)
class IndexQuery:
    """SQL text and parameters: what the raw-index benchmark runs as is."""

    sql: str
    params: dict[str, Any]


class CatalogIndex(Protocol):
    """Backend-specific candidate retrieval."""

    def word_query(self, environment: str, query: ParsedQuery, type_: str | None) -> IndexQuery: ...

    def fuzzy_query(self, environment: str, query: ParsedQuery, type_: str | None) -> IndexQuery | None: ...


def _filters(environment: str, type_: str | None) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {"env": environment, "false": False}
    clause = _VISIBLE
    if type_:
        clause += " AND s.type = :type"
        params["type"] = type_.lower()
    return clause, params


class SqliteIndex:
    """FTS5: `fhir_source_names_fts` (words, prefix indexes) and `fhir_source_names_tri` (trigrams)."""

    def word_query(self, environment: str, query: ParsedQuery, type_: str | None) -> IndexQuery:
        clause, params = _filters(environment, type_)
        # Tokens are [a-z0-9]+ (folded), so quoting them is enough to make FTS5 syntax safe.
        groups = [" OR ".join(f'"{v}"*' for v in variants) for variants in query.variants]
        params["match"] = " AND ".join(f"({group})" for group in groups)
        params["limit"] = WORD_CANDIDATES
        sql = (
            f"SELECT {_COLUMNS} FROM fhir_source_names_fts f "  # noqa: S608 - constant SQL; values are bound
            "JOIN fhir_source_names n ON n.id = f.rowid JOIN fhir_sources s ON s.id = n.source_id "
            f"WHERE fhir_source_names_fts MATCH :match AND {clause} "
            "ORDER BY bm25(fhir_source_names_fts, 10.0, 8.0, 3.0, 1.0), n.id LIMIT :limit"
        )
        return IndexQuery(sql, params)

    def fuzzy_query(self, environment: str, query: ParsedQuery, type_: str | None) -> IndexQuery | None:
        groups = typo_pieces(query.tokens)
        if not groups:
            return None
        clause, params = _filters(environment, type_)
        # Pieces are [a-z0-9]{3,}: quoted, each is a substring (phrase) query on trigrams.
        params["match"] = " AND ".join("(" + " OR ".join(f'"{p}"' for p in group) + ")" for group in groups)
        params["limit"] = FUZZY_CANDIDATES
        sql = (
            f"SELECT {_COLUMNS} FROM fhir_source_names_tri t "  # noqa: S608 - constant SQL; values are bound
            "JOIN fhir_source_names n ON n.id = t.rowid JOIN fhir_sources s ON s.id = n.source_id "
            f"WHERE fhir_source_names_tri MATCH :match AND {clause} "
            "ORDER BY bm25(fhir_source_names_tri), n.id LIMIT :limit"
        )
        return IndexQuery(sql, params)


def typo_pieces(tokens: Sequence[str]) -> list[list[str]]:
    """Substrings every name within the typo budget of the query contains: one group per word.

    Pigeonhole: a word with at most k edits keeps one of k+1 contiguous pieces intact, so a
    name matches when, for every word, it contains one of that word's pieces (trigram
    indexes answer substring tests). Words of 4-5 letters cannot be cut into 3-letter
    pieces; their first and last trigrams stand in (missing only an edit in the middle).
    """
    groups: list[list[str]] = []
    for token in tokens:
        budget = typo_budget(token)
        if len(token) < 3:
            continue
        if budget == 0:
            pieces = [token]
        elif len(token) < 6:
            pieces = [token[:3], token[-3:]]
        else:
            parts = budget + 1 if len(token) >= 3 * (budget + 1) else 2
            size = len(token) / parts
            pieces = [token[round(i * size) : round((i + 1) * size)] for i in range(parts)]
        groups.append(list(dict.fromkeys(pieces)))
    return groups


class PostgresIndex:
    """Weighted `search_tsv` (GIN) for words and prefixes; pg_trgm GIN on `name_norm` for typos."""

    def word_query(self, environment: str, query: ParsedQuery, type_: str | None) -> IndexQuery:
        clause, params = _filters(environment, type_)
        groups = [" | ".join(f"{v}:*" for v in variants) for variants in query.variants]
        params["tsq"] = " & ".join(f"({group})" for group in groups)
        params["limit"] = WORD_CANDIDATES
        sql = (
            f"SELECT {_COLUMNS} FROM fhir_source_names n JOIN fhir_sources s ON s.id = n.source_id "  # noqa: S608 - constant SQL; values are bound
            f"WHERE n.search_tsv @@ to_tsquery('simple', :tsq) AND n.environment = :env AND {clause} "
            "ORDER BY ts_rank(n.search_tsv, to_tsquery('simple', :tsq), 1) DESC, n.id LIMIT :limit"
        )
        return IndexQuery(sql, params)

    def fuzzy_query(self, environment: str, query: ParsedQuery, type_: str | None) -> IndexQuery | None:
        groups = typo_pieces(query.tokens)
        if not groups:
            return None
        clause, params = _filters(environment, type_)
        conditions = []
        for g, group in enumerate(groups):
            alternatives = []
            for p, piece in enumerate(group):
                params[f"p{g}_{p}"] = f"%{piece}%"
                alternatives.append(f"n.name_norm LIKE :p{g}_{p}")
            conditions.append("(" + " OR ".join(alternatives) + ")")
        params["q"] = " ".join(query.tokens)
        params["limit"] = FUZZY_CANDIDATES
        # pg_trgm's GIN index answers the LIKE '%piece%' tests; closest names first.
        sql = (
            f"SELECT {_COLUMNS} FROM fhir_source_names n JOIN fhir_sources s ON s.id = n.source_id "  # noqa: S608 - constant SQL; values are bound
            f"WHERE {' AND '.join(conditions)} AND n.environment = :env AND {clause} "
            "ORDER BY word_similarity(:q, n.name_norm) DESC, n.id LIMIT :limit"
        )
        return IndexQuery(sql, params)


def index_for(session: AsyncSession) -> CatalogIndex:
    """The index implementation for the session's database."""
    return SqliteIndex() if session.get_bind().dialect.name == "sqlite" else PostgresIndex()


async def fetch_candidates(
    session: AsyncSession, index_query: IndexQuery, recommended: frozenset[str]
) -> list[Candidate]:
    """Run an index query; candidates carry whether their source is recommended."""
    rows = (await session.execute(text(index_query.sql), index_query.params)).all()
    return [
        Candidate(
            source_id=row[0], name=row[1], name_norm=row[2], kind=row[3], npi=row[4],
            place_text=row[5] or "", vendor_text=row[6] or "", recommended=row[0] in recommended,
        )
        for row in rows
    ]
