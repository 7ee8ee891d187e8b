"""SMART configuration discovery (SMART App Launch 2.x, Conformance §"Using .well-known").

Primary source: ``{base}/.well-known/smart-configuration`` (a JSON document). Fallback, for servers
that predate it: the ``oauth-uris`` and ``capabilities`` extensions in the CapabilityStatement's
``rest.security`` (SMART App Launch 1.0 Conformance; deprecated in 2.x but still deployed).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Literal

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
from .capabilities import ServerCapabilities, fetch_capability_statement, parse_capability_statement
from .errors import SmartDiscoveryError, SourceUnavailable
from .urls import normalize_base_url

__all__ = [
    "WELL_KNOWN_PATH",
    "SmartConfiguration",
    "discover_smart_configuration",
    "fetch_well_known",
    "smart_configuration_from_capabilities",
    "smart_configuration_from_document",
]

logger = logging.getLogger("ehrconnect.smart")

WELL_KNOWN_PATH = "/.well-known/smart-configuration"


class SmartConfiguration(BaseModel):
    """A FHIR server's SMART authorization metadata (SMART App Launch 2.x Conformance, Metadata).

    ``code_challenge_methods_supported`` is ``None`` when the server did not say (distinct from an
    empty list): we then still send S256. List-valued fields default to empty tuples.
    """

    model_config = ConfigDict(frozen=True)

    fhir_base_url: str
    source: Literal["well-known", "capability-statement"]
    authorization_endpoint: str
    token_endpoint: str
    revocation_endpoint: str | None = None
    introspection_endpoint: str | None = None
    registration_endpoint: str | None = None
    management_endpoint: str | None = None
    issuer: str | None = None
    jwks_uri: str | None = None
    capabilities: tuple[str, ...] = ()
    scopes_supported: tuple[str, ...] = ()
    response_types_supported: tuple[str, ...] = ()
    grant_types_supported: tuple[str, ...] = ()
    token_endpoint_auth_methods_supported: tuple[str, ...] = ()
    code_challenge_methods_supported: tuple[str, ...] | None = None

    def has_capability(self, capability: str) -> bool:
        """True when ``capability`` (e.g. ``permission-v2``) is advertised."""
        return capability in self.capabilities

    @property
    def supports_s256(self) -> bool:
        """S256 is usable: advertised, or the server did not list methods at all."""
        methods = self.code_challenge_methods_supported
        return methods is None or "S256" in methods


_ENDPOINT_FIELDS = (
    "authorization_endpoint",
    "token_endpoint",
    "revocation_endpoint",
    "introspection_endpoint",
    "registration_endpoint",
    "management_endpoint",
    "jwks_uri",
)
_LIST_FIELDS = (
    "capabilities",
    "scopes_supported",
    "response_types_supported",
    "grant_types_supported",
    "token_endpoint_auth_methods_supported",
)


def _string_list(value: Any) -> tuple[str, ...] | None:
    if not isinstance(value, list):
        return None
    return tuple(dict.fromkeys(v for v in value if isinstance(v, str) and v))


def _resolve_endpoint(name: str, value: Any, *, doc_url: str, base_scheme: str) -> str | None:
    """Absolute, fragment-free http(s) URL for an advertised endpoint, or a discovery error."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise SmartDiscoveryError(f"{name} is not a URL string", url=describe_url(doc_url))
    try:
        # Relative endpoints (allowed but discouraged, SMART 1.0) resolve against the document URL.
        url = httpx.URL(doc_url).join(value.strip())
    except httpx.InvalidURL as exc:
        raise SmartDiscoveryError(f"{name} is not a valid URL", url=describe_url(doc_url)) from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise SmartDiscoveryError(f"{name} must be an absolute http(s) URL", url=describe_url(doc_url))
    if url.fragment:  # RFC 6749 §3.1 / §3.2: endpoint URIs MUST NOT include a fragment
        raise SmartDiscoveryError(f"{name} must not contain a fragment", url=describe_url(doc_url))
    if base_scheme == "https" and url.scheme != "https":
        # Never downgrade: secrets and codes travel to these endpoints (RFC 6749 §3.1, §3.2 TLS).
        raise SmartDiscoveryError(f"{name} must use https for an https FHIR server", url=describe_url(doc_url))
    return str(url)


def smart_configuration_from_document(
    doc: Mapping[str, Any],
    fhir_base_url: str,
    *,
    doc_url: str | None = None,
) -> SmartConfiguration:
    """Validate a ``.well-known/smart-configuration`` JSON object into a :class:`SmartConfiguration`.

    Lenient on optional fields (malformed lists are ignored) and strict on what the app launch
    needs: ``authorization_endpoint`` and ``token_endpoint`` (SMART 2.x: REQUIRED for launch).
    """
    base = normalize_base_url(fhir_base_url)
    doc_url = doc_url or base + WELL_KNOWN_PATH
    scheme = httpx.URL(base).scheme
    fields: dict[str, Any] = {}
    for name in _ENDPOINT_FIELDS:
        fields[name] = _resolve_endpoint(name, doc.get(name), doc_url=doc_url, base_scheme=scheme)
    for name in _LIST_FIELDS:
        fields[name] = _string_list(doc.get(name)) or ()
    fields["code_challenge_methods_supported"] = _string_list(doc.get("code_challenge_methods_supported"))
    issuer = doc.get("issuer")
    fields["issuer"] = issuer if isinstance(issuer, str) and issuer else None
    for required in ("authorization_endpoint", "token_endpoint"):
        if fields[required] is None:
            raise SmartDiscoveryError(f"smart-configuration lacks {required}", url=describe_url(doc_url))
    return SmartConfiguration(fhir_base_url=base, source="well-known", **fields)


def smart_configuration_from_capabilities(caps: ServerCapabilities, fhir_base_url: str) -> SmartConfiguration:
    """Build a :class:`SmartConfiguration` from the CapabilityStatement ``oauth-uris`` extension."""
    base = normalize_base_url(fhir_base_url)
    doc_url = base + "/metadata"
    uris = caps.oauth_uris
    if uris is None:
        raise SmartDiscoveryError("CapabilityStatement has no oauth-uris extension", url=describe_url(doc_url))
    scheme = httpx.URL(base).scheme
    resolved = {
        field: _resolve_endpoint(field, getattr(uris, attr), doc_url=doc_url, base_scheme=scheme)
        for field, attr in (
            ("authorization_endpoint", "authorize"),
            ("token_endpoint", "token"),
            ("revocation_endpoint", "revoke"),
            ("introspection_endpoint", "introspect"),
            ("registration_endpoint", "registration"),
            ("management_endpoint", "manage"),
        )
    }
    for required in ("authorization_endpoint", "token_endpoint"):
        if resolved[required] is None:
            raise SmartDiscoveryError(f"oauth-uris lacks {required}", url=describe_url(doc_url))
    return SmartConfiguration(
        fhir_base_url=base,
        source="capability-statement",
        capabilities=caps.smart_capabilities,
        **resolved,
    )


async def fetch_well_known(
    http: httpx.AsyncClient,
    fhir_base_url: str,
    *,
    http_timeout: httpx.Timeout = DISCOVERY_TIMEOUT,
) -> SmartConfiguration:
    """GET and validate ``{base}/.well-known/smart-configuration`` (no fallback).

    Raises :class:`SourceUnavailable`/:class:`RateLimited` (network, 5xx, 429) or
    :class:`SmartDiscoveryError` (404, not JSON, missing required endpoints).
    """
    base = normalize_base_url(fhir_base_url)
    url = base + WELL_KNOWN_PATH
    what = "smart-configuration"
    request = http.build_request("GET", url, headers={"Accept": "application/json"}, timeout=http_timeout)
    response = await send(http, request, what=what, follow_redirects=True)
    await raise_for_transient(response, what=what)
    if response.status_code != 200:
        await response.aclose()
        raise SmartDiscoveryError(
            f"{what}: HTTP {response.status_code}", url=describe_url(url), status_code=response.status_code
        )
    final_url = str(response.url)
    try:
        doc = await read_json_limited(response, MAX_DISCOVERY_BYTES, what=what)
    except (ValueError, _TooLarge) as exc:
        raise SmartDiscoveryError(f"{what}: {exc}", url=describe_url(url), status_code=200) from exc
    if not isinstance(doc, dict):
        raise SmartDiscoveryError(f"{what}: not a JSON object", url=describe_url(url), status_code=200)
    return smart_configuration_from_document(doc, base, doc_url=final_url)


async def discover_smart_configuration(
    http: httpx.AsyncClient,
    fhir_base_url: str,
    *,
    http_timeout: httpx.Timeout = DISCOVERY_TIMEOUT,
) -> SmartConfiguration:
    """Discover a server's SMART configuration: ``.well-known`` first, then ``/metadata``.

    Raises :class:`SourceUnavailable` when the server could not be reached for either document
    (transient: retry later), else :class:`SmartDiscoveryError` (the server is not usable).
    """
    base = normalize_base_url(fhir_base_url)
    try:
        return await fetch_well_known(http, base, http_timeout=http_timeout)
    except (SmartDiscoveryError, SourceUnavailable) as exc:
        first = exc
    logger.info("smart-configuration unavailable, trying CapabilityStatement", extra={"fhir_base": base})
    try:
        doc = await fetch_capability_statement(http, base, http_timeout=http_timeout)
        return smart_configuration_from_capabilities(parse_capability_statement(doc), base)
    except SourceUnavailable:
        raise
    except SmartDiscoveryError as exc:
        if isinstance(first, SourceUnavailable):
            # The well-known fetch failed transiently; the fallback's verdict is not authoritative.
            raise first from exc
        raise SmartDiscoveryError(
            f"SMART discovery failed: {first.message}; {exc.message}",
            url=describe_url(base),
            status_code=first.status_code,
        ) from exc
