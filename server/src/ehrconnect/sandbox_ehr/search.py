"""Search parameter evaluation over one patient's compartment (FHIR R4 search §3.1.1).

Supported: ``_id``, ``_lastUpdated``, ``patient``/``subject``, ``category``, ``date`` (see
:func:`ehrconnect.sandbox_ehr.resources.search_params`), paging with ``_count`` and ``_offset``.
Comma-separated values are ORed, repeated parameters are ANDed. Unknown parameters are ignored
(FHIR's default lenient handling) unless the client sends ``Prefer: handling=strict``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import dates
from .resources import DATE_ELEMENTS, element_values, search_params

Resource = dict[str, Any]
PAGING_PARAMS = frozenset({"_count", "_offset"})
IGNORED_PARAMS = frozenset({"_format", "_pretty"})


class SearchError(Exception):
    """A search the server refuses; ``status`` is 400 (bad request) or 403 (other patient)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Criteria:
    """A compiled search: filters, and the names of the parameters that were used."""

    filters: list[Callable[[Resource], bool]]
    used: list[tuple[str, str]]

    def apply(self, resources: list[Resource]) -> list[Resource]:
        """Resources matching every filter, in their stored order."""
        return [r for r in resources if all(f(r) for f in self.filters)]


def patient_id_from(value: str) -> str:
    """``123``, ``Patient/123`` or ``https://x/fhir/Patient/123`` -> ``123``."""
    if "/" not in value:
        return value
    head, _, tail = value.rstrip("/").rpartition("/")
    if not head.endswith("Patient"):
        raise SearchError(400, "invalid", "patient must reference a Patient")
    return tail


def compile_criteria(rtype: str, params: list[tuple[str, str]], patient_id: str, *, strict: bool) -> Criteria:
    """Turn query parameters into filters; the token's patient bounds every search."""
    supported = set(search_params(rtype))
    filters: list[Callable[[Resource], bool]] = []
    used: list[tuple[str, str]] = []
    for name, value in params:
        if name in PAGING_PARAMS or name in IGNORED_PARAMS:
            continue
        if name not in supported:
            if strict:
                raise SearchError(400, "not-supported", f"unknown search parameter {name} for {rtype}")
            continue
        used.append((name, value))
        alternatives = [v for v in value.split(",") if v]
        if not alternatives:
            raise SearchError(400, "invalid", f"{name} needs a value")
        if name == "_id":
            filters.append(_id_filter(set(alternatives)))
        elif name in ("patient", "subject"):
            wanted = {patient_id_from(v) for v in alternatives}
            if wanted != {patient_id}:
                raise SearchError(403, "forbidden", "the access token is not for that patient")
        elif name == "category":
            filters.append(_category_filter(alternatives))
        elif name == "date":
            filters.append(_date_filter(alternatives, _date_values_of(rtype)))
        elif name == "_lastUpdated":
            filters.append(_date_filter(alternatives, lambda r: [r.get("meta", {}).get("lastUpdated")]))
    return Criteria(filters, used)


def _id_filter(ids: set[str]) -> Callable[[Resource], bool]:
    return lambda resource: resource.get("id") in ids


def _date_values_of(rtype: str) -> Callable[[Resource], list[Any]]:
    stem = DATE_ELEMENTS.get(rtype)
    return lambda resource: element_values(resource, stem) if stem else []


def _date_filter(alternatives: list[str], values_of: Callable[[Resource], list[Any]]) -> Callable[[Resource], bool]:
    parsed: list[tuple[str, dates.Range]] = []
    for alternative in alternatives:
        prefix, raw = dates.split_prefix(alternative)
        found = dates.parse_range(raw)
        if found is None:
            raise SearchError(400, "invalid", f"invalid date {raw!r}")
        parsed.append((prefix, found))

    def match(resource: Resource) -> bool:
        for value in values_of(resource):
            target = dates.value_range(value)
            if target is None:
                continue
            if any(dates.matches(prefix, search, target) for prefix, search in parsed):
                return True
        return False

    return match


def _category_filter(alternatives: list[str]) -> Callable[[Resource], bool]:
    tokens = [(a.partition("|")[0], a.partition("|")[2]) if "|" in a else (None, a) for a in alternatives]

    def codings(resource: Resource) -> list[tuple[str | None, str]]:
        found: list[tuple[str | None, str]] = []
        value = resource.get("category")
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):  # AllergyIntolerance.category is a code
                found.append((None, item))
            elif isinstance(item, dict):
                for coding in item.get("coding", []):
                    if isinstance(coding.get("code"), str):
                        found.append((coding.get("system"), coding["code"]))
        return found

    def match(resource: Resource) -> bool:
        have = codings(resource)
        for system, code in tokens:
            for have_system, have_code in have:
                if code == have_code and (system is None or system == (have_system or "")):
                    return True
        return False

    return match


def page_bounds(params: dict[str, str], default: int, maximum: int) -> tuple[int, int]:
    """(offset, count) from ``_offset`` and ``_count``; count is capped at ``maximum``."""
    try:
        count = int(params.get("_count", default))
        offset = int(params.get("_offset", 0))
    except ValueError as exc:
        raise SearchError(400, "invalid", "_count and _offset must be integers") from exc
    if count < 0 or offset < 0:
        raise SearchError(400, "invalid", "_count and _offset must not be negative")
    return offset, min(count, maximum)
