"""SMART App Launch 2.x client: discovery, PKCE, authorize URL, tokens, guarded FHIR access.

Pure library: httpx + stdlib + pydantic, no database and no other ehrconnect imports. Every
network call takes an injected ``httpx.AsyncClient`` (the platform's pooled client, or a client on
``httpx.MockTransport`` in tests).

Typical patient-mediated standalone launch::

    config = await cache.get(fhir_base)                       # DiscoveryCache
    pkce = create_pkce_pair()
    scopes = default_scopes(config)
    url = build_authorize_url(config, client_id=..., redirect_uri=..., scopes=scopes,
                              state=generate_state(), code_challenge=pkce.challenge)
    # ... the browser returns with ?code=&state= ...
    tokens = await exchange_authorization_code(http, config, client, code=code,
                                               redirect_uri=..., code_verifier=pkce.verifier,
                                               requested_scopes=scopes)
    fhir = FhirSession(http, fhir_base, token_provider)
    async for bundle in fhir.search_pages("Observation", {"patient": tokens.patient}): ...
"""

from ._http import Clock, create_http_client, utc_now
from .authorize import build_authorize_url, generate_state
from .cache import DiscoveryCache, SingleFlightCache
from .capabilities import (
    OAuthUris,
    ResourceCapability,
    ServerCapabilities,
    fetch_capability_statement,
    fetch_server_capabilities,
    parse_capability_statement,
)
from .client_auth import ClientAuthMethod, ClientRegistration, select_auth_method
from .discovery import (
    SmartConfiguration,
    discover_smart_configuration,
    fetch_well_known,
    smart_configuration_from_capabilities,
    smart_configuration_from_document,
)
from .errors import (
    INVALID_ERROR_RESPONSE,
    INVALID_TOKEN_RESPONSE,
    EndpointNotAdvertised,
    FhirError,
    Forbidden,
    IntrospectionError,
    InvalidFhirResponse,
    OAuthError,
    OriginViolation,
    PkceNotSupported,
    RateLimited,
    ResourceNotFound,
    SmartDiscoveryError,
    SmartError,
    SourceUnavailable,
    TokenExchangeError,
    TokenRefreshError,
    TokenRevocationError,
    Unauthorized,
)
from .fhir import FhirSession, Params, TokenProvider, TokenSource, resolve_next_link
from .pkce import (
    PkcePair,
    code_challenge_s256,
    create_pkce_pair,
    ensure_s256_supported,
    generate_code_verifier,
)
from .revocation import (
    IntrospectionResult,
    RevocationOutcome,
    TokenTypeHint,
    introspect_token,
    revoke_token,
    revoke_tokens,
)
from .scopes import default_scopes, format_scopes, is_v2_clinical_scope, parse_scopes, supports_v2_scopes
from .tokens import (
    WARNING_NO_REFRESH_TOKEN,
    TokenSet,
    exchange_authorization_code,
    parse_token_response,
    refresh_access_token,
)
from .urls import BaseUrlGuard, normalize_base_url

__all__ = [
    "INVALID_ERROR_RESPONSE",
    "INVALID_TOKEN_RESPONSE",
    "WARNING_NO_REFRESH_TOKEN",
    "BaseUrlGuard",
    "ClientAuthMethod",
    "ClientRegistration",
    "Clock",
    "DiscoveryCache",
    "EndpointNotAdvertised",
    "FhirError",
    "FhirSession",
    "Forbidden",
    "IntrospectionError",
    "IntrospectionResult",
    "InvalidFhirResponse",
    "OAuthError",
    "OAuthUris",
    "OriginViolation",
    "Params",
    "PkceNotSupported",
    "PkcePair",
    "RateLimited",
    "ResourceCapability",
    "ResourceNotFound",
    "RevocationOutcome",
    "ServerCapabilities",
    "SingleFlightCache",
    "SmartConfiguration",
    "SmartDiscoveryError",
    "SmartError",
    "SourceUnavailable",
    "TokenExchangeError",
    "TokenProvider",
    "TokenRefreshError",
    "TokenRevocationError",
    "TokenSet",
    "TokenSource",
    "TokenTypeHint",
    "Unauthorized",
    "build_authorize_url",
    "code_challenge_s256",
    "create_http_client",
    "create_pkce_pair",
    "default_scopes",
    "discover_smart_configuration",
    "ensure_s256_supported",
    "exchange_authorization_code",
    "fetch_capability_statement",
    "fetch_server_capabilities",
    "fetch_well_known",
    "format_scopes",
    "generate_code_verifier",
    "generate_state",
    "introspect_token",
    "is_v2_clinical_scope",
    "normalize_base_url",
    "parse_capability_statement",
    "parse_scopes",
    "parse_token_response",
    "refresh_access_token",
    "resolve_next_link",
    "revoke_token",
    "revoke_tokens",
    "select_auth_method",
    "smart_configuration_from_capabilities",
    "smart_configuration_from_document",
    "supports_v2_scopes",
    "utc_now",
]
