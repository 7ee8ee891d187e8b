"""The SDK's models and requests agree with the server's own OpenAPI document.

Directions checked, per operation the SDK calls:
- every property the server documents for a response is a declared field of the SDK model
  (so nothing the API promises lands only in ``model_extra``);
- every field the SDK model *requires* is required by the server schema (so the SDK never
  rejects a valid response);
- every query parameter and body field the SDK sends is one the server documents.
"""

from __future__ import annotations

from typing import Any

import pytest
from ehrconnect_client import (
    DeletedPatient,
    DisconnectedConnection,
    FhirSource,
    Health,
    Patient,
    PatientConnection,
    PatientDetail,
    Record,
    RecordsPage,
    Session,
    SessionConnection,
    SyncRequested,
    SyncRun,
)
from ehrconnect_client._pagination import ListPage
from pydantic import BaseModel

# (method, path) -> (response model, list item model or None, query params the SDK sends, body fields)
OPERATIONS: dict[tuple[str, str], tuple[type[BaseModel], type[BaseModel] | None, set[str], set[str]]] = {
    ("get", "/health"): (Health, None, set(), set()),
    ("post", "/patients"): (Patient, None, set(), {"patient_id", "email", "name", "metadata"}),
    ("get", "/patients"): (ListPage, Patient, {"limit", "starting_after", "patient_id", "email"}, set()),
    ("get", "/patients/{id}"): (PatientDetail, None, set(), set()),
    ("put", "/patients/{id}"): (Patient, None, set(), {"patient_id", "email", "name", "metadata"}),
    ("delete", "/patients/{id}"): (DeletedPatient, None, set(), set()),
    ("get", "/patients/{id}/sessions"): (ListPage, Session, {"limit", "starting_after", "status"}, set()),
    ("delete", "/patients/{id}/connections/{conn_id}"): (DisconnectedConnection, None, set(), set()),
    ("get", "/patients/{id}/records"): (
        RecordsPage,
        Record,
        {"type", "since", "count", "starting_after", "ending_before"},
        set(),
    ),
    ("get", "/patients/{id}/connections/{conn_id}/sync-runs"): (ListPage, SyncRun, {"limit", "starting_after"}, set()),
    ("post", "/patients/{id}/connections/{conn_id}/sync"): (SyncRequested, None, set(), set()),
    ("post", "/sessions"): (
        Session,
        None,
        set(),
        {
            "patient_id",
            "return_url",
            "patient_email",
            "patient_name",
            "connection_id",
            "recommended_connection_ids",
            "return_button_label",
            "expires_in",
            "metadata",
        },
    ),
    ("get", "/sessions/{id}"): (Session, None, set(), set()),
    ("get", "/connections"): (ListPage, FhirSource, {"q", "type", "limit", "starting_after"}, set()),
    ("get", "/connections/{id}"): (FhirSource, None, set(), set()),
}

# Nested objects: (model, field) -> item model.
NESTED: dict[tuple[type[BaseModel], str], type[BaseModel]] = {
    (PatientDetail, "connections"): PatientConnection,
    (Session, "connections"): SessionConnection,
}


@pytest.fixture
async def spec(asgi_app: Any) -> dict[str, Any]:
    document: dict[str, Any] = asgi_app.openapi()
    return document


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = spec["components"]["schemas"][name]
    return schema


def field_names(model: type[BaseModel]) -> set[str]:
    names = set(model.model_fields)
    for info in model.model_fields.values():
        alias = info.validation_alias
        choices = getattr(alias, "choices", None)
        if choices:
            names.update(str(c) for c in choices)
    return names


def sdk_required(model: type[BaseModel]) -> set[str]:
    return {name for name, info in model.model_fields.items() if info.is_required()}


def check_object(spec: dict[str, Any], schema: dict[str, Any], model: type[BaseModel], where: str) -> None:
    schema = resolve(spec, schema)
    documented = set(schema.get("properties", {}))
    missing = documented - field_names(model)
    assert not missing, f"{where}: {model.__name__} lacks documented fields {sorted(missing)}"
    too_strict = sdk_required(model) - set(schema.get("required", []))
    assert not too_strict, f"{where}: {model.__name__} requires fields the server may omit {sorted(too_strict)}"
    for (owner, name), item_model in NESTED.items():
        if owner is model and name in schema.get("properties", {}):
            check_object(spec, schema["properties"][name]["items"], item_model, f"{where}.{name}[]")


def response_schema(spec: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    operation = spec["paths"][path][method]
    return resolve(spec, operation["responses"]["200"]["content"]["application/json"]["schema"])


@pytest.mark.parametrize(("method", "path"), sorted(OPERATIONS), ids=lambda v: str(v))
async def test_operation_matches_sdk(spec: dict[str, Any], method: str, path: str) -> None:
    if path not in spec["paths"] or method not in spec["paths"][path]:
        pytest.skip(f"this server version does not serve {method.upper()} {path}")
    model, item_model, sdk_params, sdk_body = OPERATIONS[(method, path)]
    schema = response_schema(spec, method, path)
    where = f"{method.upper()} {path}"
    if item_model is None:
        check_object(spec, schema, model, where)
    else:
        envelope_model = model if model is not ListPage else ListPage[item_model]  # type: ignore[valid-type]
        envelope = {k: v for k, v in schema.get("properties", {}).items() if k != "data"}
        check_object(spec, {**schema, "properties": envelope}, envelope_model, where)
        check_object(spec, schema["properties"]["data"]["items"], item_model, f"{where} data[]")

    operation = spec["paths"][path][method]
    documented_params = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"}
    assert sdk_params <= documented_params, f"{where}: SDK sends undocumented params {sdk_params - documented_params}"
    if sdk_body:
        body = resolve(spec, operation["requestBody"]["content"]["application/json"]["schema"])
        documented_body = set(body.get("properties", {}))
        assert sdk_body <= documented_body, f"{where}: SDK sends undocumented fields {sdk_body - documented_body}"


async def test_every_error_response_is_the_envelope(spec: dict[str, Any]) -> None:
    envelope = spec["components"]["schemas"].get("ErrorEnvelope")
    assert envelope is not None
    inner = resolve(spec, envelope["properties"]["error"])
    assert {"type", "code", "message", "param", "doc_url", "request_id"} <= set(inner.get("properties", {}))
