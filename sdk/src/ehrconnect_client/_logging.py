"""Failure logging on the stdlib logger ``ehrconnect_client``.

What is logged: HTTP method, the route template (``/patients/{id}/records``), status, error
type/code/param, request id, retry attempt and delay. What is never logged: concrete paths (a
patient id may be an email or another identifier; the server logs route templates for the same
reason), query strings (list filters carry emails), request or response bodies (names, emails,
FHIR data), headers (the API key), and server error messages (they may quote submitted values).
Each record also carries these facts as ``extra`` attributes prefixed ``ehrconnect_`` for
structured handlers; ``ehrconnect_path`` holds the route template.

Levels: WARNING for what needs attention (network failures, 5xx, 429 after retries, 401, 403);
INFO for other 4xx, which are ordinary control flow in most apps (a 404 on a lookup, a 409 on a
duplicate create), and for each retry; DEBUG for successes.
"""

from __future__ import annotations

import logging

from ._errors import APIError

logger = logging.getLogger("ehrconnect_client")
# A library never configures output; the application's handlers decide (PEP 282 convention).
logger.addHandler(logging.NullHandler())

_ATTENTION_STATUSES = frozenset({401, 403, 429})


def _level_for(status: int) -> int:
    return logging.WARNING if status >= 500 or status in _ATTENTION_STATUSES else logging.INFO


def log_api_error(method: str, route: str, error: APIError, *, attempt: int) -> None:
    """Log an error response that is being raised to the caller."""
    logger.log(
        _level_for(error.http_status),
        "ehrconnect request failed: %s %s status=%s type=%s code=%s param=%s request_id=%s attempt=%d",
        method,
        route,
        error.http_status,
        error.type,
        error.code,
        error.param,
        error.request_id,
        attempt,
        extra={
            "ehrconnect_method": method,
            "ehrconnect_path": route,
            "ehrconnect_status": error.http_status,
            "ehrconnect_error_type": error.type,
            "ehrconnect_error_code": error.code,
            "ehrconnect_request_id": error.request_id,
        },
    )


def log_connection_error(method: str, route: str, exc: BaseException, *, attempt: int) -> None:
    """Log a request that got no response and is being raised to the caller."""
    logger.warning(
        "ehrconnect request failed without a response: %s %s error=%s attempt=%d",
        method,
        route,
        type(exc).__name__,
        attempt,
        extra={"ehrconnect_method": method, "ehrconnect_path": route, "ehrconnect_status": None},
    )


def log_invalid_response(method: str, route: str, *, status: int, request_id: str | None) -> None:
    """Log a 2xx response whose body is not what the API promises (a server or proxy fault)."""
    logger.warning(
        "ehrconnect unexpected response body: %s %s status=%d request_id=%s",
        method,
        route,
        status,
        request_id,
        extra={"ehrconnect_method": method, "ehrconnect_path": route, "ehrconnect_request_id": request_id},
    )


def log_retry(
    method: str,
    route: str,
    *,
    reason: str,
    delay: float,
    retry_number: int,
    request_id: str | None,
) -> None:
    """Log that a failed attempt will be retried after ``delay`` seconds."""
    logger.info(
        "ehrconnect retrying %s %s after %s (retry %d in %.3fs, request_id=%s)",
        method,
        route,
        reason,
        retry_number,
        delay,
        request_id,
        extra={
            "ehrconnect_method": method,
            "ehrconnect_path": route,
            "ehrconnect_request_id": request_id,
            "ehrconnect_retry": retry_number,
        },
    )


def log_success(method: str, route: str, *, status: int, request_id: str | None, elapsed: float) -> None:
    """Debug-level trace of a successful request."""
    logger.debug(
        "ehrconnect %s %s status=%d request_id=%s elapsed=%.3fs",
        method,
        route,
        status,
        request_id,
        elapsed,
    )
