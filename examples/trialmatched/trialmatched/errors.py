"""Mapping ehrconnect SDK errors to what this app answers, and logging them usefully.

Branch on the exception class and ``err.code`` (stable), never on ``err.message`` (not stable,
and it may quote submitted values, so it is not logged either). Every log line carries the
``request_id`` ehrconnect returned: quote it to the platform operator to find the request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ehrconnect_client import (
    APIError,
    AuthenticationError,
    ConfigurationError,
    EhrconnectError,
    EHRError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
)

log = logging.getLogger("trialmatched")


@dataclass(frozen=True)
class Friendly:
    """What to tell the browser: an HTTP status, a title and a sentence. No internals."""

    status: int
    title: str
    message: str
    retry_after: int | None = None


UNAVAILABLE = Friendly(503, "Connecting records is unavailable", "Please try again in a few minutes.")


def to_friendly(err: EhrconnectError, *, action: str) -> Friendly:
    """Translate an SDK error raised while doing ``action`` (e.g. "start_session")."""
    if isinstance(err, AuthenticationError | PermissionDeniedError | ConfigurationError):
        # Our key is wrong, revoked or expired: an operator problem, never the patient's.
        return UNAVAILABLE
    if isinstance(err, RateLimitError):
        wait = max(1, round(err.retry_after or 30))
        return Friendly(503, "Too many requests", "Please wait a moment and try again.", retry_after=wait)
    if isinstance(err, NotFoundError):
        if action == "start_session":
            return Friendly(404, "Facility not found", "That facility is no longer available. Search again.")
        if action == "read_session":
            return Friendly(404, "Connection not found", "We could not find that connection attempt.")
        return Friendly(404, "Not found", "We could not find what you asked for.")
    if isinstance(err, InvalidRequestError):
        # A bug on our side (we built a bad request): the patient can only retry later.
        return Friendly(500, "Something went wrong", "We could not start that. Please try again later.")
    if isinstance(err, EHRError):
        return Friendly(502, "The health system is having trouble", "Please try again in a few minutes.")
    # Connection failures, non-JSON answers, 5xx: ehrconnect is down or degraded.
    return UNAVAILABLE


def request_id_of(err: EhrconnectError) -> str | None:
    """The platform's request id for the failed call, when there was a response."""
    return getattr(err, "request_id", None)


def log_sdk_error(err: EhrconnectError, *, action: str, **context: object) -> None:
    """One structured WARNING/ERROR line: action, error class, code, status, request id.

    Operator problems (auth, configuration, our own bad requests, server errors) are ERROR;
    expected conditions (not found, rate limited, upstream EHR trouble) are WARNING.
    """
    status = getattr(err, "http_status", None)
    operator = isinstance(
        err, AuthenticationError | PermissionDeniedError | ConfigurationError | InvalidRequestError
    ) or (isinstance(err, APIError) and (status or 0) >= 500 and not isinstance(err, EHRError))
    level = logging.ERROR if operator else logging.WARNING
    fields = {
        "action": action,
        "error": type(err).__name__,
        "code": getattr(err, "code", None),
        "http_status": status,
        "request_id": request_id_of(err),
        **context,
    }
    log.log(level, "ehrconnect call failed: %s", " ".join(f"{k}={v}" for k, v in fields.items()), extra={
        f"trialmatched_{k}": v for k, v in fields.items()
    })
