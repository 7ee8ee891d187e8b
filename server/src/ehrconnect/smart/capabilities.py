"""Reading a FHIR R4 CapabilityStatement (``{base}/metadata``).

Two consumers: discovery falls back to the SMART ``oauth-uris`` security extension when
``.well-known/smart-configuration`` is missing (SMART App Launch 1.0 style, deprecated but still
deployed), and the background pull asks which resource types, search parameters and operations
(``Patient/$everything``, ``_lastUpdated``) the server supports (FHIR R4 CapabilityStatement.rest).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict

from ._http import (
    DISCOVERY_TIMEOUT,
    MAX_DISCOVERY_BYTES,
    describe_url,
    raise_for_transient,
    read_json_limited,
    send,
)
from ._http import ResponseTooLarge as _TooLarge
from .errors import SmartDiscoveryError
from .urls import normalize_base_url

__all__ = [
    "OAUTH_URIS_EXTENSION",
    "SMART_CAPABILITIES_EXTENSION",
    "OAuthUris",
    "ResourceCapability",
    "ServerCapabilities",
    "fetch_capability_statement",
    "fetch_server_capabilities",
    "parse_capability_statement",
]

OAUTH_URIS_EXTENSION = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
SMART_CAPABILITIES_EXTENSION = "http://fhir-registry.smarthealthit.org/StructureDefinition/capabilities"

# Names under which servers declare Patient/$everything (FHIR R4 OperationDefinition Patient-everything).
_OAUTH_URI_FIELDS = {
    "authorize": "authorize",
    "token": "token",
    "register": "registration",
    "manage": "manage",
    "introspect": "introspect",
    "revoke": "revoke",
}
_EVERYTHING_NAMES = frozenset({"everything", "$everything", "patient-everything"})


class OAuthUris(BaseModel):
    """Endpoints from the CapabilityStatement ``oauth-uris`` extension (rest.security.extension)."""

    model_config = ConfigDict(frozen=True)

    authorize: str | None = None
    token: str | None = None
    registration: str | None = None  # the extension's "register" (a BaseModel method name)
    manage: str | None = None
    introspect: str | None = None
    revoke: str | None = None


class ResourceCapability(BaseModel):
    """What the server declares for one resource type (CapabilityStatement.rest.resource)."""

    model_config = ConfigDict(frozen=True)

    type: str
    interactions: frozenset[str] = frozenset()
    search_params: frozenset[str] = frozenset()
    operations: frozenset[str] = frozenset()
    operation_definitions: frozenset[str] = frozenset()


class ServerCapabilities(BaseModel):
    """The parts of a CapabilityStatement the platform acts on."""

    model_config = ConfigDict(frozen=True)

    fhir_version: str | None = None
    formats: tuple[str, ...] = ()
    resources: Mapping[str, ResourceCapability] = {}
    # Search parameters and operations declared for all resources (rest.searchParam / rest.operation).
    common_search_params: frozenset[str] = frozenset()
    system_operations: frozenset[str] = frozenset()
    system_operation_definitions: frozenset[str] = frozenset()
    oauth_uris: OAuthUris | None = None
    smart_capabilities: tuple[str, ...] = ()

    @property
    def resource_types(self) -> frozenset[str]:
        """Resource types the server declares at all."""
        return frozenset(self.resources)

    def supports_resource(self, resource_type: str) -> bool:
        """True when ``resource_type`` is declared in rest.resource."""
        return resource_type in self.resources

    def supports_search(self, resource_type: str) -> bool:
        """True when the type declares the ``search-type`` interaction."""
        res = self.resources.get(resource_type)
        return res is not None and "search-type" in res.interactions

    def search_params(self, resource_type: str) -> frozenset[str]:
        """Search parameter names usable on ``resource_type`` (type-specific plus rest-level)."""
        res = self.resources.get(resource_type)
        own = res.search_params if res is not None else frozenset()
        return own | self.common_search_params

    def supports_search_param(self, resource_type: str, name: str) -> bool:
        """True when ``name`` is declared for ``resource_type`` or for all resources."""
        return name in self.search_params(resource_type)

    def supports_last_updated(self, resource_type: str | None = None) -> bool:
        """Whether ``_lastUpdated`` is declared: for ``resource_type``, or (None) for every searchable type.

        ``_lastUpdated`` applies to all resources in FHIR R4 (search §3.1.1.1), but servers differ
        in implementing it, so only an explicit declaration counts.
        """
        if resource_type is not None:
            return self.supports_search_param(resource_type, "_lastUpdated")
        searchable = [t for t in self.resources if self.supports_search(t)]
        return bool(searchable) and all(self.supports_search_param(t, "_lastUpdated") for t in searchable)

    @property
    def supports_patient_everything(self) -> bool:
        """True when ``Patient/$everything`` is declared (on Patient or at the system level)."""
        patient = self.resources.get("Patient")
        if patient is not None and (
            patient.operations & _EVERYTHING_NAMES or any(_is_everything(d) for d in patient.operation_definitions)
        ):
            return True
        return any(_is_everything(d) for d in self.system_operation_definitions)


def _is_everything(definition: str) -> bool:
    # Canonical: http://hl7.org/fhir/OperationDefinition/Patient-everything (possibly |version).
    return definition.split("|", 1)[0].rstrip("/").lower().endswith("operationdefinition/patient-everything")


def _dicts(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                yield item


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _names(items: Any, key: str) -> frozenset[str]:
    return frozenset(v for item in _dicts(items) if (v := _str(item.get(key))) is not None)


def _parse_security(rest: dict[str, Any]) -> tuple[OAuthUris | None, tuple[str, ...]]:
    security = rest.get("security")
    if not isinstance(security, dict):
        return None, ()
    uris: OAuthUris | None = None
    smart_caps: list[str] = []
    for ext in _dicts(security.get("extension")):
        if ext.get("url") == OAUTH_URIS_EXTENSION:
            found: dict[str, str] = {}
            for sub in _dicts(ext.get("extension")):
                name, value = _str(sub.get("url")), _str(sub.get("valueUri")) or _str(sub.get("valueUrl"))
                field = _OAUTH_URI_FIELDS.get(name or "")
                if field is not None and value:
                    found[field] = value
            uris = OAuthUris(**found)
        elif ext.get("url") == SMART_CAPABILITIES_EXTENSION and (code := _str(ext.get("valueCode"))):
            smart_caps.append(code)
    return uris, tuple(dict.fromkeys(smart_caps))


def parse_capability_statement(doc: Any) -> ServerCapabilities:
    """Parse a CapabilityStatement JSON object leniently (unknown or malformed parts are skipped).

    Raises :class:`SmartDiscoveryError` if ``doc`` is not a CapabilityStatement at all.
    """
    if not isinstance(doc, dict) or doc.get("resourceType") != "CapabilityStatement":
        raise SmartDiscoveryError("metadata is not a FHIR CapabilityStatement")
    rests = list(_dicts(doc.get("rest")))
    # A server may also declare client-mode rest entries; only server mode describes what we can call.
    server_rests = [r for r in rests if r.get("mode", "server") == "server"] or rests
    resources: dict[str, ResourceCapability] = {}
    common: set[str] = set()
    sys_ops: set[str] = set()
    sys_defs: set[str] = set()
    oauth: OAuthUris | None = None
    smart_caps: tuple[str, ...] = ()
    for rest in server_rests:
        uris, caps = _parse_security(rest)
        oauth = oauth or uris
        smart_caps = smart_caps or caps
        common |= _names(rest.get("searchParam"), "name")
        sys_ops |= _names(rest.get("operation"), "name")
        sys_defs |= _names(rest.get("operation"), "definition")
        for res in _dicts(rest.get("resource")):
            rtype = _str(res.get("type"))
            if rtype is None:
                continue
            prev = resources.get(rtype)
            cap = ResourceCapability(
                type=rtype,
                interactions=_names(res.get("interaction"), "code"),
                search_params=_names(res.get("searchParam"), "name"),
                operations=_names(res.get("operation"), "name"),
                operation_definitions=_names(res.get("operation"), "definition"),
            )
            if prev is not None:  # the same type declared twice: union, never lose a declaration
                cap = ResourceCapability(
                    type=rtype,
                    interactions=prev.interactions | cap.interactions,
                    search_params=prev.search_params | cap.search_params,
                    operations=prev.operations | cap.operations,
                    operation_definitions=prev.operation_definitions | cap.operation_definitions,
                )
            resources[rtype] = cap
    formats = (
        tuple(f for f in doc.get("format", []) if isinstance(f, str)) if isinstance(doc.get("format"), list) else ()
    )
    return ServerCapabilities(
        fhir_version=_str(doc.get("fhirVersion")),
        formats=formats,
        resources=resources,
        common_search_params=frozenset(common),
        system_operations=frozenset(sys_ops),
        system_operation_definitions=frozenset(sys_defs),
        oauth_uris=oauth,
        smart_capabilities=smart_caps,
    )


async def fetch_capability_statement(
    http: httpx.AsyncClient,
    fhir_base_url: str,
    *,
    http_timeout: httpx.Timeout = DISCOVERY_TIMEOUT,
) -> dict[str, Any]:
    """GET ``{base}/metadata`` (FHIR R4 capabilities interaction) and return the JSON object.

    Raises :class:`SourceUnavailable` (network, 5xx), :class:`RateLimited` (429) or
    :class:`SmartDiscoveryError` (other statuses, non-JSON, not a CapabilityStatement).
    No token is sent: the capabilities interaction is public.
    """
    base = normalize_base_url(fhir_base_url)
    url = base + "/metadata"
    what = "CapabilityStatement"
    request = http.build_request(
        "GET", url, headers={"Accept": "application/fhir+json, application/json;q=0.9"}, timeout=http_timeout
    )
    response = await send(http, request, what=what, follow_redirects=True)
    await raise_for_transient(response, what=what)
    if response.status_code != 200:
        await response.aclose()
        raise SmartDiscoveryError(
            f"{what}: HTTP {response.status_code}", url=describe_url(url), status_code=response.status_code
        )
    try:
        doc = await read_json_limited(response, MAX_DISCOVERY_BYTES, what=what)
    except (ValueError, _TooLarge) as exc:
        raise SmartDiscoveryError(f"{what}: {exc}", url=describe_url(url), status_code=200) from exc
    if not isinstance(doc, dict) or doc.get("resourceType") != "CapabilityStatement":
        raise SmartDiscoveryError(f"{what}: not a CapabilityStatement", url=describe_url(url), status_code=200)
    return doc


async def fetch_server_capabilities(
    http: httpx.AsyncClient,
    fhir_base_url: str,
    *,
    http_timeout: httpx.Timeout = DISCOVERY_TIMEOUT,
) -> ServerCapabilities:
    """Fetch and parse ``{base}/metadata``. Errors as :func:`fetch_capability_statement`."""
    return parse_capability_statement(await fetch_capability_statement(http, fhir_base_url, http_timeout=http_timeout))
