"""Catalog import: read directory files, merge what they say per FHIR base URL, write in bulk.

Reading and merging are pure (no database), so the merge rules are testable on their own:
one source per normalized base URL; every organization name kept as a searchable name; the
display name comes from the most trusted directory (Brands > Endpoint bundle > vendor list >
aggregator list, first seen on ties); a base URL serving more than `SHARED_NAME_THRESHOLD`
organizations (athenahealth's one URL for ~17,000 practices) is shown under its vendor's
name and each practice stays a searchable name of it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ehrconnect.catalog.formats import (
    EndpointRecord,
    NameEntry,
    UnknownFormat,
    detect_format,
    lantern_list_name,
    read_bundle,
    read_lantern,
    read_manifest,
)
from ehrconnect.catalog.text import STATE_NAMES, fold, split_state_prefix, zip5
from ehrconnect.catalog.urls import normalize_base_url, repair_url
from ehrconnect.catalog.vendors import (
    fhir_version_from_url,
    is_r4,
    skip_reason,
    vendor_display,
    vendor_type_from_url,
)

SHARED_NAME_THRESHOLD = 25

#: progress(stage, advance, total): the CLI draws a bar from it.
ProgressFn = Callable[[str, int, int | None], None]


def no_progress(stage: str, advance: int, total: int | None) -> None:
    """A progress callback that draws nothing."""
    return None


@dataclass(frozen=True)
class NameRow:
    """A searchable name, folded and keyed for dedupe (one per name + NPI + place)."""

    name: str
    name_norm: str
    kind: str
    npi: str | None
    city: str | None
    state: str | None
    postal_code: str | None
    place_text: str
    dedupe_key: str
    origin: str


def make_name_row(entry: NameEntry, origin: str, *, kind: str | None = None) -> NameRow | None:
    """Fold a directory name; None when nothing searchable is left."""
    bare, prefix_state = split_state_prefix(entry.name)
    name_norm = fold(bare)[:500]
    state = (entry.state or prefix_state or "").strip().upper()[:2] or None
    zip_code = zip5(entry.postal_code)
    city = (entry.city or "").strip()[:200] or None
    if not name_norm and not entry.npi and not zip_code:
        return None
    state_name = fold(STATE_NAMES.get(state or "", ""))
    place_text = " ".join(p for p in (fold(city or ""), (state or "").lower(), state_name, zip_code or "") if p)
    key = "|".join((name_norm, entry.npi or "", zip_code or "", fold(city or ""), state or ""))
    return NameRow(
        name=(entry.name or bare)[:500],
        name_norm=name_norm,
        kind=kind or entry.kind,
        npi=entry.npi,
        city=city,
        state=state,
        postal_code=(entry.postal_code or "").strip()[:10] or None,
        place_text=place_text[:300],
        dedupe_key=key[:600],
        origin=origin[:200],
    )


@dataclass
class MergedSource:
    """Everything this import knows about one FHIR base URL."""

    normalized_url: str
    url: str
    priority: int
    display_name: str | None = None
    priority_of_display: int = -1
    vendor_type: str | None = None
    vendor_priority: int = -1
    vendor_name: str | None = None
    fhir_version: str | None = None
    brand: str | None = None
    logo_url: str | None = None
    portal_url: str | None = None
    names: dict[str, NameRow] = field(default_factory=dict)
    origins: list[str] = field(default_factory=list)
    formats: set[str] = field(default_factory=set)

    @property
    def shared(self) -> bool:
        return len({row.name_norm for row in self.names.values() if row.name_norm}) > SHARED_NAME_THRESHOLD

    def final_display_name(self) -> str:
        """The display name: vendor's for shared URLs, else the best directory name."""
        if self.shared:
            return vendor_display(self.vendor_type) or self.vendor_name or (urlsplit(self.url).hostname or self.url)
        if self.display_name:
            return self.display_name
        tail = self.url.rstrip("/").rsplit("/", 1)[-1]
        return f"{vendor_display(self.vendor_type) or urlsplit(self.url).hostname} ({tail})"


@dataclass
class ImportSummary:
    """What an import did; `skipped` counts endpoint records by reason."""

    environment: str
    files_read: int = 0
    files_skipped: dict[str, str] = field(default_factory=dict)
    formats: Counter[str] = field(default_factory=Counter)
    records: int = 0
    unique_urls: int = 0
    merged: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    names_added: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "files_read": self.files_read,
            "files_skipped": dict(self.files_skipped),
            "formats": dict(self.formats),
            "records": self.records,
            "unique_urls": self.unique_urls,
            "merged": self.merged,
            "skipped": dict(sorted(self.skipped.items())),
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "names_added": self.names_added,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class LoadedFile:
    path: Path
    label: str
    format: str
    document: Any


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files as given, directories as their *.json files (recursively), in a stable order."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*.json") if p.is_file())
        else:
            files.append(path)
    return files


def load_files(paths: Iterable[Path], summary: ImportSummary) -> tuple[list[LoadedFile], dict[str, str]]:
    """Parse and classify files; byte-identical duplicates and empty files are skipped.

    Returns the endpoint files and the Lantern manifest mapping (FileName -> vendor).
    """
    loaded: list[LoadedFile] = []
    manifest: dict[str, str] = {}
    seen: dict[str, str] = {}
    for path in expand_paths(paths):
        data = path.read_bytes()
        label = f"{path.parent.name}/{path.name}"
        if not data.strip():
            summary.files_skipped[label] = "empty file"
            continue
        digest = hashlib.sha256(data).hexdigest()
        if digest in seen:
            summary.files_skipped[label] = f"duplicate of {seen[digest]}"
            continue
        seen[digest] = label
        try:
            document = json.loads(data)
            kind = detect_format(document)
        except (ValueError, UnknownFormat) as exc:
            summary.files_skipped[label] = f"unreadable: {exc}"[:200]
            continue
        summary.formats[kind] += 1
        if kind == "lantern_manifest":
            manifest.update(read_manifest(document))
            continue
        loaded.append(LoadedFile(path, label, kind, document))
    summary.files_read = len(loaded)
    return loaded, manifest


def iter_records(
    files: list[LoadedFile], manifest: dict[str, str], progress: ProgressFn = no_progress
) -> Iterator[tuple[str, EndpointRecord]]:
    """(format, record) for every endpoint record of every file, in file order."""
    for loaded in files:
        if loaded.format == "lantern":
            list_name = lantern_list_name(loaded.path.name, manifest)
            for record in read_lantern(loaded.document, loaded.label, list_name):
                yield loaded.format, record
        else:
            for record in read_bundle(loaded.document, loaded.label, brands=loaded.format == "brands"):
                yield loaded.format, record
        progress("read", 1, None)


def merge_records(
    records: Iterable[tuple[str, EndpointRecord]], environment: str, summary: ImportSummary
) -> dict[str, MergedSource]:
    """Group records by normalized base URL, dropping those that do not belong in the catalog."""
    merged: dict[str, MergedSource] = {}
    # Directories repeat URLs (athenahealth's 34,000 times): decide once per distinct value.
    decided: dict[str, _UrlFacts | None] = {}
    for fmt, record in records:
        summary.records += 1
        if record.url not in decided:
            decided[record.url] = _url_facts(record.url, environment)
        facts = decided[record.url]
        if facts is None:
            summary.skipped["invalid_url"] += 1
            continue
        version = record.fhir_version or facts.version
        reason = record.skip or facts.skip or (None if is_r4(version) else "not_r4")
        if reason:
            summary.skipped[reason] += 1
            continue
        source = merged.get(facts.key)
        if source is None:
            source = merged[facts.key] = MergedSource(normalized_url=facts.key, url=facts.url, priority=record.priority)
        else:
            summary.merged += 1
            if record.priority > source.priority:
                source.url, source.priority = facts.url, record.priority
        _absorb(source, fmt, record, facts, version)
    summary.unique_urls = len(merged)
    return merged


@dataclass(frozen=True)
class _UrlFacts:
    url: str
    key: str
    version: str | None
    skip: str | None
    vendor_type: str | None


def _url_facts(raw: str, environment: str) -> _UrlFacts | None:
    url = repair_url(raw)
    if url is None:
        return None
    return _UrlFacts(
        url=url,
        key=normalize_base_url(url),
        version=fhir_version_from_url(url),
        skip=skip_reason(url, environment),
        vendor_type=vendor_type_from_url(url),
    )


def _absorb(source: MergedSource, fmt: str, record: EndpointRecord, facts: _UrlFacts, version: str | None) -> None:
    if record.origin not in source.origins:
        source.origins.append(record.origin)
    source.formats.add(fmt)
    vendor_type = facts.vendor_type if record.vendor_type is None else record.vendor_type
    if vendor_type and record.priority > source.vendor_priority:
        source.vendor_type, source.vendor_priority = vendor_type, record.priority
        source.vendor_name = record.vendor_name or source.vendor_name
    source.fhir_version = source.fhir_version or (version if version else None)
    for attr in ("brand", "logo_url", "portal_url"):
        if getattr(record, attr) and not getattr(source, attr):
            setattr(source, attr, getattr(record, attr))
    for entry in record.names:
        row = make_name_row(entry, record.origin, kind="alias")
        if row is None:
            continue
        source.names.setdefault(row.dedupe_key, row)
        # Display name: the first primary name of the most trusted directory.
        if entry.kind == "primary" and row.name_norm and (
            source.display_name is None or record.priority > source.priority_of_display
        ):
            source.display_name = split_state_prefix(entry.name)[0][:500]
            source.priority_of_display = record.priority


def read_catalog(
    paths: Iterable[Path], environment: str, progress: ProgressFn = no_progress
) -> tuple[dict[str, MergedSource], ImportSummary]:
    """Read and merge directory files (no database access)."""
    started = time.perf_counter()
    summary = ImportSummary(environment=environment)
    files, manifest = load_files(paths, summary)
    progress("read", 0, len(files))
    merged = merge_records(iter_records(files, manifest, progress), environment, summary)
    summary.seconds = time.perf_counter() - started
    return merged, summary
