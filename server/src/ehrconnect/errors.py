"""Typed API errors, the code catalogue, and the one envelope renderer.

Every non-2xx answer of the JSON API is ``{"error": {type, code, message, param, doc_url,
request_id}}``. Handlers raise `APIError`; nothing else reaches the client.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import JSONResponse


@dataclass(frozen=True)
class ErrorCode:
    type: str
    code: str
    status: int
    description: str


#: Every code the API can return (the Medblocks catalogue plus ours, marked "ehrconnect").
CATALOGUE: tuple[ErrorCode, ...] = (
    ErrorCode("authentication_error", "missing_api_key", 401, "No `Authorization: Bearer` header."),
    ErrorCode("authentication_error", "invalid_api_key", 401, "The API key is unknown or revoked."),
    ErrorCode("authentication_error", "expired_api_key", 401, "The API key is past its expiry."),
    ErrorCode("permission_error", "forbidden", 403, "The key cannot perform this operation."),
    ErrorCode("invalid_request_error", "bad_request", 400, "Malformed request (e.g. invalid JSON)."),
    ErrorCode("invalid_request_error", "invalid_data", 400, "A field failed validation; see `param`."),
    ErrorCode("invalid_request_error", "payload_too_large", 413, "The request body is too large."),
    ErrorCode(
        "invalid_request_error", "unsupported_api_version", 400, "The `Version` header is not supported."
    ),
    ErrorCode(
        "invalid_request_error",
        "unsupported_media_type",
        415,
        "Request bodies must be `application/json` (ehrconnect).",
    ),
    ErrorCode(
        "invalid_request_error", "method_not_allowed", 405, "The path exists but not for this method (ehrconnect)."
    ),
    ErrorCode(
        "invalid_request_error", "oauth_state_expired", 400, "The OAuth state expired before the callback."
    ),
    ErrorCode("not_found_error", "resource_not_found", 404, "No such object in your organization and environment."),
    ErrorCode("conflict_error", "resource_conflict", 409, "The request conflicts with the current state."),
    ErrorCode("conflict_error", "external_id_already_exists", 409, "A patient with this `patient_id` exists."),
    ErrorCode(
        "conflict_error",
        "idempotency_key_reused",
        409,
        "This `Idempotency-Key` was used with a different request (ehrconnect).",
    ),
    ErrorCode(
        "conflict_error",
        "idempotency_key_in_use",
        409,
        "A request with this `Idempotency-Key` is still being processed; retry later (ehrconnect).",
    ),
    ErrorCode("rate_limit_error", "throttled", 429, "Too many requests; wait `Retry-After` seconds."),
    ErrorCode("ehr_error", "fhir_error", 502, "The upstream FHIR server failed."),
    ErrorCode("ehr_error", "oauth_error", 502, "The upstream OAuth server failed."),
    ErrorCode("ehr_error", "token_exchange_failed", 502, "Exchanging the OAuth code for tokens failed."),
    ErrorCode("ehr_error", "token_unavailable", 502, "No valid token for the upstream source."),
    ErrorCode("api_error", "internal_error", 500, "Unexpected server error (a bug); retry with backoff."),
    ErrorCode("api_error", "db_error", 500, "A database operation failed."),
    ErrorCode("api_error", "service_unavailable", 503, "The server is starting or overloaded (ehrconnect)."),
)

_BY_CODE = {entry.code: entry for entry in CATALOGUE}


class APIError(Exception):
    """An error the API returns on purpose. The code fixes the type and default status."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        param: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        entry = _BY_CODE[code]
        super().__init__(message)
        self.code = code
        self.type = entry.type
        self.status = status or entry.status
        self.message = message
        self.param = param
        self.headers = headers or {}


def not_found(what: str, param: str | None = None) -> APIError:
    return APIError("resource_not_found", f"No such {what}.", param=param)


def invalid(message: str, param: str | None) -> APIError:
    return APIError("invalid_data", message, param=param)


def error_body(
    *, type_: str, code: str, message: str, param: str | None, public_url: str, request_id: str
) -> dict[str, dict[str, str | None]]:
    return {
        "error": {
            "type": type_,
            "code": code,
            "message": message,
            "param": param,
            "doc_url": f"{public_url}/docs/errors#{code}",
            "request_id": request_id,
        }
    }


def render(error: APIError, *, public_url: str, request_id: str) -> JSONResponse:
    body = error_body(
        type_=error.type,
        code=error.code,
        message=error.message,
        param=error.param,
        public_url=public_url,
        request_id=request_id,
    )
    return JSONResponse(body, status_code=error.status, headers=error.headers)
