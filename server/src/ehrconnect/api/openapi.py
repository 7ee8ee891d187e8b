"""The OpenAPI document: generated from the code, then given the error envelope and security."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from ehrconnect.errors import CATALOGUE
from ehrconnect.versions import LATEST_VERSION, SUPPORTED_VERSIONS

ERROR_ENVELOPE = {
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "additionalProperties": False,
            "required": ["type", "code", "message", "param", "doc_url", "request_id"],
            "properties": {
                "type": {"type": "string", "enum": sorted({e.type for e in CATALOGUE})},
                "code": {"type": "string", "enum": sorted({e.code for e in CATALOGUE})},
                "message": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "doc_url": {"type": "string"},
                "request_id": {"type": "string"},
            },
        }
    },
}

_ERROR_STATUSES = {
    "400": "Invalid request (validation, malformed JSON, unsupported version)",
    "401": "Missing, invalid or expired API key",
    "404": "Not found in your organization and environment",
    "405": "Method not allowed",
    "409": "Conflict",
    "413": "Request body too large",
    "415": "Request body is not JSON",
    "429": "Rate limited; see Retry-After",
    "500": "Unexpected server error",
}


def build_openapi(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(
        title="ehrconnect Platform API",
        version=LATEST_VERSION,
        description=(
            "Patient-mediated SMART on FHIR connections, wire-compatible with the Medblocks "
            "Platform API (version 2026-04-25). All errors use the envelope `ErrorEnvelope`."
        ),
        routes=app.routes,
    )
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["ErrorEnvelope"] = ERROR_ENVELOPE
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    components["securitySchemes"] = {
        "BearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "API key (mb_sk_live_... / mb_sk_sbx_...)"}
    }
    headers = {
        "X-Request-Id": {"schema": {"type": "string", "format": "uuid"}, "description": "Unique id of this request."},
        "Version": {"schema": {"type": "string"}, "description": "API version used."},
    }
    replayed = {
        "Idempotent-Replayed": {
            "schema": {"type": "string", "enum": ["true"]},
            "description": "Present when this is the stored response of an earlier request with the same key.",
        }
    }
    retry_after = {
        "Retry-After": {"schema": {"type": "integer", "minimum": 1}, "description": "Seconds to wait."}
    }
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            for status, description in _ERROR_STATUSES.items():
                if path == "/health" and status not in {"405", "500"}:
                    continue
                responses.setdefault(
                    status,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}},
                    },
                )
            for status, response in responses.items():
                response["headers"] = {
                    **headers,
                    **(replayed if method == "post" else {}),
                    **(retry_after if status == "429" else {}),
                }
            if path != "/health":
                operation["security"] = [{"BearerAuth": []}]
                operation.setdefault("parameters", [])
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "header" and parameter["name"] == "Version":
                    # Documented as the supported set; any other value answers 400 unsupported_api_version.
                    parameter["schema"] = {"type": "string", "enum": list(SUPPORTED_VERSIONS)}
            if method == "post":
                operation.setdefault("parameters", []).append(
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                        "description": "Replays the stored response for a retried request (24 h).",
                    }
                )
    return schema
