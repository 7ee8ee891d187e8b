"""Query parsing and relevance ranking, identical on every backend.

The database finds candidate names (FTS5 or tsvector word/prefix matches; trigram matches
for typos); this module decides what matches and in which order, so SQLite and PostgreSQL
return the same results. Sort key, best first:

1. tier: 0 the whole name equals the query; 1 the name starts with it; 2 every query word
   is a word (or, last word, a prefix) of the name, in any order; 3 every query word is found
   in the name, place (city, state, ZIP), NPI or vendor; 4 the same allowing typos
   (1 edit in words of 4-7 letters, 2 beyond; a transposition is one edit).
2. recommended sources first (the picker's `recommended_ids`);
3. more query words matched exactly (not as a prefix or with a typo), fewer edits;
4. the source's display name over its other names; fewer extra words in the name;
5. name, then source id (a total order: stable pagination).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from ehrconnect.catalog.text import STOPWORDS, SYNONYMS, edit_distance, fold, typo_budget

#: Queries shorter than this (after folding) list the catalog instead of searching it.
MIN_QUERY_LENGTH = 2

SortKey = tuple[int, int, int, int, int, int, str, str]


@dataclass(frozen=True)
class ParsedQuery:
    """A folded query: its words (stopwords and 1-letter words dropped) and their variants."""

    norm: str
    core: str
    tokens: tuple[str, ...]
    #: Each token with its synonyms ("st" -> ("st", "saint")).
    variants: tuple[tuple[str, ...], ...]

    @property
    def fuzzy_possible(self) -> bool:
        return any(typo_budget(token) for token in self.tokens)


def parse_query(q: str | None) -> ParsedQuery | None:
    """None when there is nothing to search for (browse instead)."""
    norm = fold(q or "")
    if len(norm.replace(" ", "")) < MIN_QUERY_LENGTH:
        return None
    all_words = norm.split()
    content = [w for w in all_words if w not in STOPWORDS] or all_words
    tokens = tuple(dict.fromkeys(w for w in content if len(w) > 1)) or tuple(dict.fromkeys(content))
    return ParsedQuery(
        norm=norm,
        core=" ".join(w for w in all_words if w not in STOPWORDS),
        tokens=tokens,
        variants=tuple((t, *SYNONYMS.get(t, ())) for t in tokens),
    )


@dataclass(frozen=True)
class Candidate:
    """A name row the index returned, with what ranking needs."""

    source_id: str
    name: str
    name_norm: str
    kind: str
    npi: str | None
    place_text: str
    vendor_text: str
    recommended: bool = False


def _core(text: str) -> str:
    return " ".join(w for w in text.split() if w not in STOPWORDS)


def _word_match(variants: Sequence[str], words: Sequence[str]) -> int | None:
    """0 exact word, 1 prefix of a word, None otherwise."""
    best: int | None = None
    for variant in variants:
        for word in words:
            if word == variant:
                return 0
            if word.startswith(variant):
                best = 1
    return best


def _typo_match(token: str, words: Iterable[str]) -> int | None:
    """Edits needed to match `token` to a word (or a word's prefix of similar length)."""
    budget = typo_budget(token)
    if not budget:
        return None
    best: int | None = None
    for word in words:
        distance = _word_distance(token, word, budget)
        if distance <= budget and (best is None or distance < best):
            best = distance
    return best


@lru_cache(maxsize=262144)
def _word_distance(token: str, word: str, budget: int) -> int:
    # Catalog words repeat across names ("pediatrics", "clinic"): memoized per (token, word).
    if abs(len(word) - len(token)) <= budget:
        return edit_distance(token, word, budget)
    if len(word) > len(token):
        return edit_distance(token, word[: len(token)], budget)
    return budget + 1


def score(query: ParsedQuery, candidate: Candidate) -> SortKey | None:
    """The candidate's sort key, or None when it does not match the query."""
    name_words = candidate.name_norm.split()
    other_words = [*candidate.place_text.split(), *(candidate.npi or "").split(), *candidate.vendor_text.split()]
    name_core = _core(candidate.name_norm)
    exact = prefix = edits = 0
    tier = 2
    for token, variants in zip(query.tokens, query.variants, strict=True):
        match = _word_match(variants, name_words)
        if match is None:
            match = _word_match(variants, other_words)
            if match is not None:
                tier = max(tier, 3)
        if match is not None:
            exact += match == 0
            prefix += match == 1
            continue
        distance = _typo_match(token, [*name_words, *other_words])
        if distance is None:
            return None
        tier, edits = 4, edits + distance
    if query.core and name_core == query.core:
        tier = 0
    elif query.core and name_core.startswith(query.core) and tier <= 2:
        tier = 1
    extra_words = max(0, len(name_words) - len(query.tokens))
    return (
        tier,
        0 if candidate.recommended else 1,
        -exact,
        edits,
        0 if candidate.kind == "primary" else 1,
        extra_words,
        candidate.name_norm,
        candidate.source_id,
    )


def rank(query: ParsedQuery, candidates: Iterable[Candidate]) -> list[tuple[SortKey, Candidate]]:
    """Best-matching name per source, sources in sort-key order."""
    best: dict[str, tuple[SortKey, Candidate]] = {}
    for candidate in candidates:
        key = score(query, candidate)
        if key is None:
            continue
        current = best.get(candidate.source_id)
        if current is None or key < current[0]:
            best[candidate.source_id] = (key, candidate)
    return sorted(best.values(), key=lambda item: item[0])
