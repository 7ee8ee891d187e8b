"""Contract: the generated OpenAPI document, its committed snapshot, and the offline docs UI."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
from contract_kit import (
    FHIR_SOURCE_KEYS,
    LIST_KEYS,
    PATIENT_CONNECTION_KEYS,
    PATIENT_DETAIL_KEYS,
    PATIENT_KEYS,
    SESSION_CONNECTION_KEYS,
    SESSION_KEYS,
)
from ehrconnect.versions import LATEST_VERSION

ROOT = Path(__file__).resolve().parents[3]
SNAPSHOT = ROOT / "openapi" / f"{LATEST_VERSION}.json"
REGENERATE = "python scripts/openapi_snapshot.py"

CONTRACT_OPERATIONS = {
    ("get", "/health"), ("post", "/patients"), ("get", "/patients"), ("get", "/patients/{id}"),
    ("put", "/patients/{id}"), ("delete", "/patients/{id}"), ("get", "/patients/{id}/sessions"),
    ("delete", "/patients/{id}/connections/{conn_id}"), ("post", "/sessions"), ("get", "/sessions/{id}"),
    ("get", "/connections"), ("get", "/connections/{id}"),
}
#: Routes of later issues that may appear without breaking this contract.
LATER_PATHS = re.compile(r"^/(patients/\{id\}/(records|connections/\{conn_id\}/sync)|webhooks|events)")


async def _document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


async def test_snapshot_matches_generated_document(client: httpx.AsyncClient) -> None:
    served = await _document(client)
    assert SNAPSHOT.exists(), f"missing {SNAPSHOT}; run `{REGENERATE}`"
    committed = json.loads(SNAPSHOT.read_text())
    assert served == committed, f"the OpenAPI snapshot is stale: run `{REGENERATE}` and commit it"


async def test_operations_match_the_contract(client: httpx.AsyncClient) -> None:
    document = await _document(client)
    assert document["info"]["version"] == LATEST_VERSION
    operations = {(m, p) for p, item in document["paths"].items() for m in item}
    assert operations >= CONTRACT_OPERATIONS
    assert all(LATER_PATHS.match(p) for _m, p in operations - CONTRACT_OPERATIONS), operations - CONTRACT_OPERATIONS
    for method, path in CONTRACT_OPERATIONS:
        operation = document["paths"][path][method]
        assert "422" not in operation["responses"]
        assert set(operation["responses"]["200"]["headers"]) >= {"X-Request-Id", "Version"}
        if path == "/health":
            assert "security" not in operation
            continue
        assert operation["security"] == [{"BearerAuth": []}]
        names = {p["name"] for p in operation.get("parameters", [])}
        assert "Version" in names
        assert ("Idempotency-Key" in names) == (method == "post")
        for status in ("400", "401", "404", "429", "500"):
            schema = operation["responses"][status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorEnvelope"}
        assert "Retry-After" in operation["responses"]["429"]["headers"]


async def test_schemas_require_every_wire_field(client: httpx.AsyncClient) -> None:
    schemas = (await _document(client))["components"]["schemas"]
    expected = {
        "PatientOut": PATIENT_KEYS, "PatientDetailOut": PATIENT_DETAIL_KEYS,
        "PatientConnectionOut": PATIENT_CONNECTION_KEYS, "SessionOut": SESSION_KEYS,
        "SessionConnectionOut": SESSION_CONNECTION_KEYS, "ListResponse_PatientOut_": LIST_KEYS,
    }
    for name, keys in expected.items():
        assert set(schemas[name]["required"]) == keys, name
        assert set(schemas[name]["properties"]) == keys, name
    assert set(schemas["FhirSourceOut"]["required"]) >= FHIR_SOURCE_KEYS
    assert set(schemas["FhirSourceOut"]["required"]) == set(schemas["FhirSourceOut"]["properties"])
    error = schemas["ErrorEnvelope"]["properties"]["error"]
    assert set(error["required"]) == {"type", "code", "message", "param", "doc_url", "request_id"}
    session_create = schemas["SessionCreate"]
    assert session_create["additionalProperties"] is False
    assert set(session_create["required"]) == {"patient_id", "return_url"}


async def test_docs_ui_is_served_without_a_cdn(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(assets) >= 3
    for asset in assets:
        assert asset.startswith("/"), f"external asset {asset}"
        response = await client.get(asset)
        assert response.status_code == 200 and response.content, asset
        if asset.endswith(".js"):
            # The loader script must point at our own document, and nothing may come from a CDN.
            assert "//cdn" not in response.text and "unpkg.com" not in response.text, asset
        if asset.endswith(".css"):
            for ref in re.findall(r"url\(([^)]+)\)", response.text):
                ref = ref.strip("'\"")
                assert ref.startswith("data:") or not ref.startswith(("http:", "https:", "//")), ref
    init = await client.get("/docs/static/init.js")
    assert "/openapi.json" in init.text
