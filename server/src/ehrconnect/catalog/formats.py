"""Readers for the endpoint directories vendors publish, detected from the document's shape.

- SMART App Launch "User-access Brands" bundles (SMART App Launch 2.2, brands.html): Bundle of
  Organization brands (organization-brand / organization-portal extensions) + Endpoints.
- FHIR Endpoint + Organization bundles (Oracle Health's ignite-endpoints): the same shape
  without brand extensions; handled by the same reader.
- Lantern vendor lists: `{"Endpoints": [{URL, OrganizationName, NPIID, OrganizationZipCode}]}`.
- Lantern list manifests (`[{FormatType, URL, EndpointName, FileName}]`): not endpoints; they
  name the vendor behind each list file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ehrconnect.catalog.text import clean_npi, split_state_prefix
from ehrconnect.catalog.vendors import vendor_type_from_list_name

BRAND_EXT = "http://hl7.org/fhir/StructureDefinition/organization-brand"
PORTAL_EXT = "http://hl7.org/fhir/StructureDefinition/organization-portal"
FHIR_VERSION_EXT = "http://hl7.org/fhir/StructureDefinition/endpoint-fhir-version"
NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"

#: How much a format's names are trusted for a source's display name (higher wins).
PRIORITY_BRANDS = 3
PRIORITY_BUNDLE = 2
PRIORITY_VENDOR_LIST = 1
PRIORITY_AGGREGATOR_LIST = 0

_LANTERN_FILE_SUFFIX = re.compile(r"_?EndpointSources\.json$", re.IGNORECASE)


class UnknownFormat(ValueError):
    """The document is none of the supported directory formats."""


@dataclass(frozen=True)
class NameEntry:
    """One organization name an endpoint serves, with what the directory says about it."""

    name: str
    kind: str = "alias"
    npi: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None


@dataclass
class EndpointRecord:
    """One endpoint as one directory describes it (several may describe the same URL)."""

    url: str
    origin: str
    priority: int
    names: list[NameEntry] = field(default_factory=list)
    vendor_type: str | None = None
    #: The vendor a single-vendor list names ("Netsmart Technologies"), for display.
    vendor_name: str | None = None
    fhir_version: str | None = None
    brand: str | None = None
    logo_url: str | None = None
    portal_url: str | None = None
    #: Set when the directory itself says the endpoint is unusable (inactive, not FHIR REST).
    skip: str | None = None


def detect_format(document: Any) -> str:
    """"brands", "endpoint_bundle", "lantern" or "lantern_manifest"; raises UnknownFormat."""
    if isinstance(document, dict) and isinstance(document.get("Endpoints"), list):
        return "lantern"
    if isinstance(document, dict) and document.get("resourceType") == "Bundle":
        resources = [e.get("resource") or {} for e in document.get("entry") or []]
        for resource in resources:
            if resource.get("resourceType") == "Organization" and any(
                ext.get("url") in (BRAND_EXT, PORTAL_EXT) for ext in resource.get("extension") or []
            ):
                return "brands"
        if any(r.get("resourceType") == "Endpoint" for r in resources):
            return "endpoint_bundle"
    if (
        isinstance(document, list)
        and document
        and all(isinstance(item, dict) and "FileName" in item for item in document)
    ):
        return "lantern_manifest"
    raise UnknownFormat("not a Brands bundle, Endpoint bundle or Lantern endpoint list")


def lantern_list_name(file_name: str, manifest: dict[str, str]) -> str:
    """The vendor behind a Lantern list: from the manifest, else from the file name."""
    if file_name in manifest:
        return manifest[file_name]
    return _LANTERN_FILE_SUFFIX.sub("", file_name).replace("_", " ").strip()


def read_manifest(document: list[dict[str, Any]]) -> dict[str, str]:
    """FileName -> EndpointName (vendor) from a Lantern manifest."""
    return {
        str(item["FileName"]): str(item.get("EndpointName") or "")
        for item in document
        if item.get("FileName") and item.get("EndpointName")
    }


def read_lantern(document: dict[str, Any], origin: str, list_name: str) -> Iterator[EndpointRecord]:
    """Records of a Lantern vendor list (empty NPI / ZIP strings become None)."""
    vendor_type = vendor_type_from_list_name(list_name)
    priority = PRIORITY_VENDOR_LIST if vendor_type else PRIORITY_AGGREGATOR_LIST
    for item in document["Endpoints"]:
        if not isinstance(item, dict):
            continue
        url = str(item.get("URL") or "").strip()
        raw_name = str(item.get("OrganizationName") or "").strip()
        name, state = split_state_prefix(raw_name)
        record = EndpointRecord(
            url=url, origin=origin, priority=priority, vendor_type=vendor_type,
            vendor_name=list_name if vendor_type else None,
        )
        zip_code = str(item.get("OrganizationZipCode") or "").strip() or None
        npi = clean_npi(str(item.get("NPIID") or ""))
        if name:
            record.names.append(
                NameEntry(name=raw_name, kind="primary", npi=npi, state=state, postal_code=zip_code)
            )
        elif zip_code or npi:
            record.names.append(NameEntry(name="", kind="primary", npi=npi, postal_code=zip_code))
        yield record


def read_bundle(document: dict[str, Any], origin: str, *, brands: bool) -> Iterator[EndpointRecord]:
    """Records of a Brands or Endpoint+Organization bundle, one per (R4-or-unknown) Endpoint.

    Organization.partOf: a brand without endpoints of its own gets access through its parent
    (SMART App Launch 2.2, UserAccessBrand.partOf; at most two levels), so its names become
    names of the parent's endpoints.
    """
    priority = PRIORITY_BRANDS if brands else PRIORITY_BUNDLE
    endpoints: dict[str, dict[str, Any]] = {}
    by_full_url: dict[str, str] = {}
    organizations: dict[str, dict[str, Any]] = {}
    for entry in document.get("entry") or []:
        resource = entry.get("resource") or {}
        kind, rid = resource.get("resourceType"), str(resource.get("id") or "")
        if kind == "Endpoint":
            endpoints[rid] = resource
            if entry.get("fullUrl"):
                by_full_url[str(entry["fullUrl"])] = rid
        elif kind == "Organization":
            organizations[rid] = resource

    def endpoint_id(reference: str) -> str | None:
        if reference in by_full_url:
            return by_full_url[reference]
        match = re.search(r"(?:^|/)Endpoint/([^/]+)$", reference)
        return match.group(1) if match and match.group(1) in endpoints else None

    def own_endpoints(org: dict[str, Any]) -> list[str]:
        refs = [str(ref.get("reference") or "") for ref in org.get("endpoint") or []]
        for portal in _extensions(org, PORTAL_EXT):
            refs += [str(v.get("reference") or "") for v in _sub_values(portal, "portalEndpoint")]
        return [eid for eid in dict.fromkeys(endpoint_id(r) for r in refs) if eid]

    records: dict[str, EndpointRecord] = {}
    for org in organizations.values():
        parent = _parent(org, organizations)
        targets = own_endpoints(org) or (own_endpoints(parent) if parent else [])
        top = parent if parent and not own_endpoints(org) else org
        for eid in targets:
            endpoint = endpoints[eid]
            record = records.get(eid)
            if record is None:
                record = _endpoint_record(endpoint, origin, priority)
                records[eid] = record
            _add_organization(record, org, primary=(top is org))
            if brands:
                record.brand = record.brand or str(top.get("name") or "") or None
                record.logo_url = record.logo_url or _brand_logo(top) or _brand_logo(org)
                record.portal_url = record.portal_url or _portal_url(top) or _portal_url(org)
    for eid, endpoint in endpoints.items():
        if eid not in records:
            record = _endpoint_record(endpoint, origin, priority)
            if endpoint.get("name"):
                record.names.append(NameEntry(name=str(endpoint["name"]), kind="primary"))
            records[eid] = record
    yield from records.values()


def _endpoint_record(endpoint: dict[str, Any], origin: str, priority: int) -> EndpointRecord:
    record = EndpointRecord(url=str(endpoint.get("address") or "").strip(), origin=origin, priority=priority)
    for ext in endpoint.get("extension") or []:
        if ext.get("url") == FHIR_VERSION_EXT and ext.get("valueCode"):
            record.fhir_version = str(ext["valueCode"])
    status = endpoint.get("status")
    connection = (endpoint.get("connectionType") or {}).get("code")
    if status and status != "active":
        record.skip = "inactive"
    elif connection and connection != "hl7-fhir-rest":
        record.skip = "not_fhir_rest"
    return record


def _add_organization(record: EndpointRecord, org: dict[str, Any], *, primary: bool) -> None:
    npi = next(
        (clean_npi(str(i.get("value") or "")) for i in org.get("identifier") or [] if i.get("system") == NPI_SYSTEM),
        None,
    )
    addresses = [a for a in org.get("address") or [] if isinstance(a, dict)] or [{}]
    name = str(org.get("name") or "").strip()
    if name:
        for address in addresses:
            record.names.append(
                NameEntry(
                    name=name,
                    kind="primary" if primary else "alias",
                    npi=npi,
                    city=_clean_place(address.get("city")),
                    state=_clean_place(address.get("state")),
                    postal_code=_clean_place(address.get("postalCode")),
                )
            )
    for alias in org.get("alias") or []:
        if isinstance(alias, str) and alias.strip() and "(more here)" not in alias:
            record.names.append(NameEntry(name=alias.strip(), kind="alias"))
    for portal in _extensions(org, PORTAL_EXT):
        for portal_name in _sub_values(portal, "portalName"):
            if isinstance(portal_name, str) and portal_name.strip():
                record.names.append(NameEntry(name=portal_name.strip(), kind="portal"))


def _clean_place(value: Any) -> str | None:
    # The spec's examples elide repeated addresses as "...(more here)...".
    text = str(value or "").strip()
    return text if text and "more here" not in text else None


def _parent(org: dict[str, Any], organizations: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    reference = str((org.get("partOf") or {}).get("reference") or "")
    match = re.search(r"Organization/([^/]+)$", reference)
    return organizations.get(match.group(1)) if match else None


def _extensions(resource: dict[str, Any], url: str) -> list[dict[str, Any]]:
    return [ext for ext in resource.get("extension") or [] if ext.get("url") == url]


def _sub_values(extension: dict[str, Any], url: str) -> list[Any]:
    values = []
    for sub in extension.get("extension") or []:
        if sub.get("url") == url:
            values += [v for k, v in sub.items() if k.startswith("value")]
    return values


def _brand_logo(org: dict[str, Any]) -> str | None:
    for brand in _extensions(org, BRAND_EXT):
        for logo in _sub_values(brand, "brandLogo"):
            if isinstance(logo, str) and 0 < len(logo) <= 1000:
                return logo
    return None


def _portal_url(org: dict[str, Any]) -> str | None:
    for portal in _extensions(org, PORTAL_EXT):
        for url in _sub_values(portal, "portalUrl"):
            if isinstance(url, str) and 0 < len(url) <= 1000:
                return url
    return None
