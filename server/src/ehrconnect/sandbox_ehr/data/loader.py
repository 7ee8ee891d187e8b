"""Load the shipped Synthea transaction bundles into an in-memory, reference-resolved store.

Synthea bundles are ``transaction`` Bundles whose entries reference each other by ``urn:uuid:``
full URLs, and may reference shared Practitioners/Organizations conditionally
(``Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|123``). A FHIR server resolves both
while processing the transaction (R4 http §3.1.0.11.2 "Transaction Processing Rules"); we do the
same once at load, keeping the ids in the files so references and URLs are stable.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from importlib import resources
from typing import Any

from ..dates import format_instant, value_range
from ..resources import DATE_ELEMENTS, element_values

Resource = dict[str, Any]

# meta.lastUpdated for resources without a clinical date: the data set's publication date.
DEFAULT_LAST_UPDATED = "2021-06-01T00:00:00.000Z"
_SHARED_PREFIXES = ("hospitalInformation", "practitionerInformation")


def bundle_files() -> list[str]:
    """Names of the shipped bundles in load order: shared bundles first, then patients."""
    names = [entry.name for entry in resources.files(__package__).iterdir() if entry.name.endswith(".json.gz")]
    return sorted(names, key=lambda name: (not name.startswith(_SHARED_PREFIXES), name))


def read_bundle(name: str) -> Resource:
    """Read and decompress one shipped bundle."""
    raw = resources.files(__package__).joinpath(name).read_bytes()
    bundle: Resource = json.loads(gzip.decompress(raw))
    return bundle


def walk_references(node: Any) -> Iterator[Resource]:
    """Yield every Reference-shaped dict (one with a string ``reference``) inside a resource."""
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            yield node
        for value in node.values():
            if isinstance(value, dict | list):
                yield from walk_references(value)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, dict | list):
                yield from walk_references(item)


def last_updated_for(resource: Resource) -> str:
    """A deterministic meta.lastUpdated: the start of the resource's clinical date, else a constant."""
    stem = DATE_ELEMENTS.get(resource["resourceType"])
    if stem is not None:
        for value in element_values(resource, stem):
            found = value_range(value)
            if found is not None and found[0].year > 1:
                return format_instant(found[0])
    return DEFAULT_LAST_UPDATED


class SyntheaLoader:
    """Accumulates resources from several transaction bundles and resolves their references."""

    def __init__(self) -> None:
        self.resources: dict[tuple[str, str], Resource] = {}
        self.order: list[tuple[str, str]] = []
        self._full_urls: dict[str, str] = {}
        self._identifiers: dict[tuple[str, str, str], str] = {}
        self.patient_ids: list[str] = []

    def add_bundle(self, bundle: Resource) -> None:
        """Register a bundle's entries, then resolve references (earlier bundles are visible)."""
        added: list[Resource] = []
        for entry in bundle.get("entry", []):
            resource: Resource = entry["resource"]
            rtype = resource["resourceType"]
            rid = resource.get("id") or _deterministic_id(entry.get("fullUrl", ""), rtype, len(self.order))
            resource["id"] = rid
            key = (rtype, rid)
            full_url = entry.get("fullUrl")
            if isinstance(full_url, str):
                self._full_urls[full_url] = f"{rtype}/{rid}"
            if key in self.resources:
                # Shared Organizations/Practitioners repeat across bundles: keep the first copy.
                continue
            self.resources[key] = resource
            self.order.append(key)
            for identifier in resource.get("identifier", []):
                system, value = identifier.get("system"), identifier.get("value")
                if isinstance(system, str) and isinstance(value, str):
                    self._identifiers.setdefault((rtype, system, value), rid)
            if rtype == "Patient":
                self.patient_ids.append(rid)
            added.append(resource)
        for resource in added:
            self._resolve(resource)
            meta = resource.setdefault("meta", {})
            meta.setdefault("versionId", "1")
            meta.setdefault("lastUpdated", last_updated_for(resource))

    def _resolve(self, resource: Resource) -> None:
        for ref in walk_references(resource):
            target: str = ref["reference"]
            if target.startswith("urn:uuid:"):
                resolved = self._full_urls.get(target)
                if resolved is not None:
                    ref["reference"] = resolved
            elif "?" in target:
                resolved = self._resolve_conditional(target)
                if resolved is not None:
                    ref["reference"] = resolved

    def _resolve_conditional(self, target: str) -> str | None:
        """Resolve ``Type?identifier=system|value`` (the only criteria Synthea uses)."""
        rtype, _, query = target.partition("?")
        for criterion in query.split("&"):
            name, _, token = criterion.partition("=")
            if name != "identifier" or "|" not in token:
                continue
            system, _, value = token.partition("|")
            rid = self._identifiers.get((rtype, system, value))
            if rid is not None:
                return f"{rtype}/{rid}"
        return None


def _deterministic_id(full_url: str, rtype: str, position: int) -> str:
    """An id for an entry without one: its urn:uuid when it has one, else type and position."""
    if full_url.startswith("urn:uuid:"):
        return full_url.removeprefix("urn:uuid:")
    return f"{rtype.lower()}-{position}"


def load_synthea() -> SyntheaLoader:
    """Load every shipped bundle (about 3,400 resources)."""
    loader = SyntheaLoader()
    for name in bundle_files():
        loader.add_bundle(read_bundle(name))
    return loader
