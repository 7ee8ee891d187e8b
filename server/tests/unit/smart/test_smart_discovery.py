"""Discovery: .well-known/smart-configuration, CapabilityStatement fallback, capability reading."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from ehrconnect.smart import (
    RateLimited,
    SmartDiscoveryError,
    SourceUnavailable,
    discover_smart_configuration,
    fetch_server_capabilities,
    normalize_base_url,
    parse_capability_statement,
)
from smart_testkit import AUTHORIZE, BASE, INTROSPECT, REVOKE, TOKEN, MockServer, well_known_doc

WELL_KNOWN = BASE + "/.well-known/smart-configuration"
METADATA = BASE + "/metadata"


def capability_statement(*, oauth: bool = True, **extra: Any) -> dict[str, Any]:
    security: dict[str, Any] = {}
    if oauth:
        security["extension"] = [
            {
                "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                "extension": [
                    {"url": "authorize", "valueUri": AUTHORIZE},
                    {"url": "token", "valueUri": TOKEN},
                    {"url": "revoke", "valueUri": REVOKE},
                    {"url": "introspect", "valueUri": INTROSPECT},
                ],
            },
            {
                "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/capabilities",
                "valueCode": "launch-standalone",
            },
            {
                "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/capabilities",
                "valueCode": "permission-v2",
            },
        ]
    doc: dict[str, Any] = {
        "resourceType": "CapabilityStatement",
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "security": security,
                "searchParam": [{"name": "_id", "type": "token"}],
                "resource": [
                    {
                        "type": "Patient",
                        "interaction": [{"code": "read"}, {"code": "search-type"}],
                        "searchParam": [{"name": "_lastUpdated", "type": "date"}, {"name": "name", "type": "string"}],
                        "operation": [
                            {
                                "name": "everything",
                                "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                            }
                        ],
                    },
                    {
                        "type": "Observation",
                        "interaction": [{"code": "search-type"}],
                        "searchParam": [
                            {"name": "patient", "type": "reference"},
                            {"name": "category", "type": "token"},
                        ],
                    },
                ],
            }
        ],
    }
    doc.update(extra)
    return doc


async def test_well_known_is_parsed(server: MockServer, http: httpx.AsyncClient) -> None:
    server.json("GET", WELL_KNOWN, well_known_doc())
    config = await discover_smart_configuration(http, BASE + "/")
    assert config.source == "well-known"
    assert config.fhir_base_url == BASE
    assert config.authorization_endpoint == AUTHORIZE
    assert config.token_endpoint == TOKEN
    assert config.revocation_endpoint == REVOKE
    assert config.introspection_endpoint == INTROSPECT
    assert config.issuer == "https://auth.example.com"
    assert config.jwks_uri == "https://auth.example.com/jwks"
    assert config.code_challenge_methods_supported == ("S256",)
    assert "permission-v1" in config.capabilities
    assert config.scopes_supported[0] == "openid"
    assert server.calls(METADATA) == []  # no fallback needed
    assert server.requests[0].headers["accept"] == "application/json"
    assert "authorization" not in server.requests[0].headers


async def test_absent_challenge_methods_is_none_not_empty(server: MockServer, http: httpx.AsyncClient) -> None:
    server.json("GET", WELL_KNOWN, well_known_doc(code_challenge_methods_supported=None))
    config = await discover_smart_configuration(http, BASE)
    assert config.code_challenge_methods_supported is None
    assert config.supports_s256


async def test_relative_endpoints_resolve_against_document(server: MockServer, http: httpx.AsyncClient) -> None:
    server.json("GET", WELL_KNOWN, well_known_doc(authorization_endpoint="/auth/authorize", token_endpoint="../token"))
    config = await discover_smart_configuration(http, BASE)
    assert config.authorization_endpoint == "https://ehr.example.com/auth/authorize"
    assert config.token_endpoint == "https://ehr.example.com/fhir/token"


async def test_malformed_optional_fields_are_ignored(server: MockServer, http: httpx.AsyncClient) -> None:
    server.json("GET", WELL_KNOWN, well_known_doc(scopes_supported="openid", capabilities=["a", 3, None, "a"]))
    config = await discover_smart_configuration(http, BASE)
    assert config.scopes_supported == ()
    assert config.capabilities == ("a",)


async def test_https_server_with_http_token_endpoint_is_refused(server: MockServer, http: httpx.AsyncClient) -> None:
    server.json("GET", WELL_KNOWN, well_known_doc(token_endpoint="http://auth.example.com/token"))
    # The well-known document is unusable and there is no oauth-uris fallback.
    server.json("GET", METADATA, capability_statement(oauth=False))
    with pytest.raises(SmartDiscoveryError, match="https"):
        await discover_smart_configuration(http, BASE)


async def test_fragment_in_endpoint_is_refused(server: MockServer, http: httpx.AsyncClient) -> None:
    server.json("GET", WELL_KNOWN, well_known_doc(authorization_endpoint=AUTHORIZE + "#frag"))
    server.json("GET", METADATA, capability_statement(oauth=False))
    with pytest.raises(SmartDiscoveryError, match="fragment"):
        await discover_smart_configuration(http, BASE)


@pytest.mark.parametrize(
    "well_known",
    [
        httpx.Response(404, text="not found"),
        httpx.Response(200, text="<html>login</html>", headers={"content-type": "text/html"}),
        httpx.Response(200, json=["not", "an", "object"]),
        httpx.Response(200, json={"issuer": "x"}),  # lacks the endpoints
    ],
    ids=["404", "html", "array", "missing-endpoints"],
)
async def test_fallback_to_capability_statement(
    server: MockServer, http: httpx.AsyncClient, well_known: httpx.Response
) -> None:
    server.route("GET", WELL_KNOWN, well_known)
    server.json("GET", METADATA, capability_statement())
    config = await discover_smart_configuration(http, BASE)
    assert config.source == "capability-statement"
    assert config.authorization_endpoint == AUTHORIZE
    assert config.token_endpoint == TOKEN
    assert config.revocation_endpoint == REVOKE
    assert config.introspection_endpoint == INTROSPECT
    assert config.capabilities == ("launch-standalone", "permission-v2")
    assert config.code_challenge_methods_supported is None


async def test_both_documents_unusable_raises_discovery_error(server: MockServer, http: httpx.AsyncClient) -> None:
    server.route("GET", WELL_KNOWN, httpx.Response(404))
    server.json("GET", METADATA, capability_statement(oauth=False))
    with pytest.raises(SmartDiscoveryError) as info:
        await discover_smart_configuration(http, BASE)
    assert "oauth-uris" in str(info.value)
    assert info.value.status_code == 404


async def test_metadata_not_a_capability_statement(server: MockServer, http: httpx.AsyncClient) -> None:
    server.route("GET", WELL_KNOWN, httpx.Response(404))
    server.json("GET", METADATA, {"resourceType": "OperationOutcome"})
    with pytest.raises(SmartDiscoveryError):
        await discover_smart_configuration(http, BASE)


async def test_server_down_is_source_unavailable(server: MockServer, http: httpx.AsyncClient) -> None:
    server.route("GET", WELL_KNOWN, httpx.Response(503))
    server.route("GET", METADATA, httpx.Response(502))
    with pytest.raises(SourceUnavailable) as info:
        await discover_smart_configuration(http, BASE)
    assert info.value.status_code == 502


async def test_transient_well_known_failure_wins_over_fallback_verdict(
    server: MockServer, http: httpx.AsyncClient
) -> None:
    server.route("GET", WELL_KNOWN, httpx.Response(500))
    server.json("GET", METADATA, capability_statement(oauth=False))
    with pytest.raises(SourceUnavailable):
        await discover_smart_configuration(http, BASE)


async def test_network_error_is_source_unavailable() -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(boom)) as client:
        with pytest.raises(SourceUnavailable, match="network error"):
            await discover_smart_configuration(client, BASE)


async def test_rate_limited_metadata(server: MockServer, http: httpx.AsyncClient) -> None:
    server.route("GET", WELL_KNOWN, httpx.Response(404))
    server.route("GET", METADATA, httpx.Response(429, headers={"Retry-After": "7"}))
    with pytest.raises(RateLimited) as info:
        await discover_smart_configuration(http, BASE)
    assert info.value.retry_after == 7


async def test_discovery_follows_redirects(server: MockServer, http: httpx.AsyncClient) -> None:
    moved = "https://ehr.example.com/static/smart.json"
    server.route("GET", WELL_KNOWN, httpx.Response(302, headers={"location": moved}))
    server.json("GET", moved, well_known_doc())
    config = await discover_smart_configuration(http, BASE)
    assert config.token_endpoint == TOKEN


@pytest.mark.parametrize(
    "bad", ["ftp://ehr/fhir", "https://user:pw@ehr/fhir", "https://ehr/fhir?x=1", "/fhir", "https://ehr/a/%2e%2e/b"]
)
def test_invalid_base_url_is_rejected(bad: str) -> None:
    with pytest.raises(ValueError):
        normalize_base_url(bad)


def test_base_url_normalisation() -> None:
    assert normalize_base_url("HTTPS://EHR.Example.com:443/fhir/R4/") == "https://ehr.example.com/fhir/R4"
    assert normalize_base_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"


# --- CapabilityStatement reader (used by the background pull) ---


async def test_server_capabilities(server: MockServer, http: httpx.AsyncClient) -> None:
    server.json("GET", METADATA, capability_statement())
    caps = await fetch_server_capabilities(http, BASE)
    assert caps.fhir_version == "4.0.1"
    assert caps.resource_types == {"Patient", "Observation"}
    assert caps.supports_resource("Observation") and not caps.supports_resource("Condition")
    assert caps.supports_search("Observation")
    assert caps.search_params("Observation") == {"patient", "category", "_id"}
    assert caps.supports_search_param("Observation", "_id")  # rest-level parameter
    assert caps.supports_last_updated("Patient")
    assert not caps.supports_last_updated("Observation")
    assert not caps.supports_last_updated()  # not every searchable type declares it
    assert caps.supports_patient_everything
    assert caps.oauth_uris is not None and caps.oauth_uris.token == TOKEN
    assert server.requests[0].headers["accept"].startswith("application/fhir+json")


def test_everything_by_definition_only_and_system_level() -> None:
    doc = capability_statement()
    patient = doc["rest"][0]["resource"][0]
    patient["operation"] = [
        {"name": "everything-op", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything|4.0.1"}
    ]
    assert parse_capability_statement(doc).supports_patient_everything
    patient["operation"] = []
    assert not parse_capability_statement(doc).supports_patient_everything
    doc["rest"][0]["operation"] = [
        {"name": "everything", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"}
    ]
    assert parse_capability_statement(doc).supports_patient_everything


def test_last_updated_everywhere_and_client_mode_rest_ignored() -> None:
    doc = capability_statement()
    doc["rest"][0]["searchParam"].append({"name": "_lastUpdated", "type": "date"})
    doc["rest"].append({"mode": "client", "resource": [{"type": "Condition"}]})
    caps = parse_capability_statement(doc)
    assert caps.supports_last_updated()
    assert caps.supports_last_updated("Observation")
    assert not caps.supports_resource("Condition")


def test_capability_statement_junk_is_tolerated() -> None:
    caps = parse_capability_statement(
        {
            "resourceType": "CapabilityStatement",
            "rest": [{"resource": [{"type": 3}, "x", {"type": "Patient", "searchParam": "bad"}]}],
        }
    )
    assert caps.resource_types == {"Patient"}
    assert caps.search_params("Patient") == frozenset()
    assert not caps.supports_patient_everything
    with pytest.raises(SmartDiscoveryError):
        parse_capability_statement({"resourceType": "Bundle"})
