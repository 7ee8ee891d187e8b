"""Discovery documents: ``.well-known/smart-configuration`` (SMART App Launch 2.x
"Conformance"), ``.well-known/openid-configuration`` (OIDC Discovery §3) and the FHIR
CapabilityStatement at ``metadata`` with the SMART ``oauth-uris`` extension.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from . import profiles
from .context import Sandbox, profile_of, sandbox_of
from .profiles import Profile
from .resources import SUPPORTED_TYPES, search_params
from .scopes import SUPPORTED_NON_CLINICAL

FHIR_JSON = "application/fhir+json"
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
_PARAM_TYPES = {
    "_id": "token",
    "_lastUpdated": "date",
    "patient": "reference",
    "subject": "reference",
    "category": "token",
    "date": "date",
}


def capabilities(profile: Profile) -> list[str]:
    """SMART capabilities this profile supports."""
    caps = [
        "launch-standalone",
        "authorize-post",
        "client-public",
        "client-confidential-symmetric",
        "context-standalone-patient",
        "permission-patient",
        "permission-v1",
        "permission-v2",
        "sso-openid-connect",
    ]
    if profile.key != profiles.NO_OFFLINE:
        caps.append("permission-offline")
    return caps


def smart_configuration_body(sandbox: Sandbox, request: Request, profile: Profile) -> dict[str, Any]:
    """The SMART configuration document of a profile."""
    fhir_base = sandbox.fhir_base(request, profile)
    scopes = ["patient/*.rs", "patient/*.read", *SUPPORTED_NON_CLINICAL]
    if profile.key == profiles.NO_OFFLINE:
        scopes.remove("offline_access")
    return {
        "issuer": fhir_base,
        "jwks_uri": sandbox.oauth_url(request, profile, "jwks"),
        "authorization_endpoint": sandbox.oauth_url(request, profile, "authorize"),
        "token_endpoint": sandbox.oauth_url(request, profile, "token"),
        "revocation_endpoint": sandbox.oauth_url(request, profile, "revoke"),
        "introspection_endpoint": sandbox.oauth_url(request, profile, "introspect"),
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "response_types_supported": ["code"],
        "scopes_supported": scopes,
        "code_challenge_methods_supported": ["S256"],
        "capabilities": capabilities(profile),
    }


async def smart_configuration(request: Request) -> Response:
    """``GET <profile>/fhir/.well-known/smart-configuration``."""
    sandbox = sandbox_of(request)
    profile = profile_of(request)
    if profile is None:
        return JSONResponse({"error": "not_found"}, status_code=404)
    await sandbox.delay(profile)
    return JSONResponse(smart_configuration_body(sandbox, request, profile))


async def openid_configuration(request: Request) -> Response:
    """``GET <profile>/fhir/.well-known/openid-configuration`` (the id_token issuer's metadata)."""
    sandbox = sandbox_of(request)
    profile = profile_of(request)
    if profile is None:
        return JSONResponse({"error": "not_found"}, status_code=404)
    smart = smart_configuration_body(sandbox, request, profile)
    return JSONResponse(
        {
            "issuer": smart["issuer"],
            "jwks_uri": smart["jwks_uri"],
            "authorization_endpoint": smart["authorization_endpoint"],
            "token_endpoint": smart["token_endpoint"],
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": smart["scopes_supported"],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nonce", "fhirUser"],
            "code_challenge_methods_supported": ["S256"],
        }
    )


def capability_statement(sandbox: Sandbox, request: Request, profile: Profile) -> dict[str, Any]:
    """The CapabilityStatement of a profile: read + search-type on every supported type."""
    resources: list[dict[str, Any]] = []
    for rtype in SUPPORTED_TYPES:
        entry: dict[str, Any] = {
            "type": rtype,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [{"name": name, "type": _PARAM_TYPES[name]} for name in search_params(rtype)],
        }
        if rtype == "Patient":
            entry["operation"] = [
                {"name": "everything", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"}
            ]
        resources.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-01-01",
        "publisher": "ehrconnect",
        "kind": "instance",
        "software": {"name": "ehrconnect sandbox EHR"},
        "implementation": {"description": profile.display_name, "url": sandbox.fhir_base(request, profile)},
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "cors": False,
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                    "code": "SMART-on-FHIR",
                                }
                            ]
                        }
                    ],
                    "extension": [
                        {
                            "url": OAUTH_URIS,
                            "extension": [
                                {"url": name, "valueUri": sandbox.oauth_url(request, profile, name)}
                                for name in ("authorize", "token", "revoke", "introspect")
                            ],
                        }
                    ],
                },
                "resource": resources,
            }
        ],
    }


async def metadata(request: Request) -> Response:
    """``GET <profile>/fhir/metadata`` (no token needed)."""
    sandbox = sandbox_of(request)
    profile = profile_of(request)
    if profile is None:
        return JSONResponse({"error": "not_found"}, status_code=404)
    await sandbox.delay(profile)
    return JSONResponse(capability_statement(sandbox, request, profile), media_type=FHIR_JSON)
