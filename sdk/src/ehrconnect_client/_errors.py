"""One exception tree for everything the SDK raises.

API errors are chosen by the envelope's ``error.type`` (see the wire contract: every non-2xx
body is ``{"error": {type, code, message, param, doc_url, request_id}}``); when a body is not
that envelope (a proxy's HTML page, say) the HTTP status picks the class instead. Branch on
``err.code`` for specifics: codes are stable, messages are not.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIServerError",
    "APITimeoutError",
    "AuthenticationError",
    "BillingError",
    "ConfigurationError",
    "ConflictError",
    "EHRError",
    "EhrconnectError",
    "InvalidRequestError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ReturnURLError",
    "error_from_response",
]


class EhrconnectError(Exception):
    """Base class of every exception raised by ``ehrconnect_client``."""


class ConfigurationError(EhrconnectError, ValueError):
    """The client was configured wrongly (missing key, non-https base URL, ...)."""


class ReturnURLError(EhrconnectError, ValueError):
    """A URL given to :func:`parse_return_url` does not carry the return parameters."""


class APIConnectionError(EhrconnectError):
    """The request did not get an HTTP response (DNS, refused connection, reset, TLS...).

    The server may or may not have processed a write; retry POSTs with the same
    ``Idempotency-Key`` to be safe.

    ``path`` is the concrete request path (it may contain a patient id; do not log it) and
    ``route`` its template (``/patients/{id}``), which the message quotes.
    """

    def __init__(self, message: str, *, method: str, path: str, route: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.path = path
        self.route = route if route is not None else path


class APITimeoutError(APIConnectionError):
    """The request timed out (connect, read, write or pool timeout)."""


class APIResponseValidationError(EhrconnectError):
    """A 2xx response whose body is not the JSON object the API promises."""

    def __init__(self, message: str, *, http_status: int, request_id: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.request_id = request_id


class APIError(EhrconnectError):
    """The server answered with an error status.

    Attributes mirror the error envelope plus transport facts: ``http_status``, ``type``,
    ``code``, ``message``, ``param``, ``doc_url``, ``request_id`` (from the body, else the
    ``X-Request-Id`` header), ``retry_after`` (seconds, from ``Retry-After``), ``headers`` and
    the decoded ``body`` (a dict, or the raw text when the body was not JSON).
    """

    def __init__(
        self,
        message: str,
        *,
        http_status: int,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        doc_url: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.type = type
        self.code = code
        self.param = param
        self.doc_url = doc_url
        self.request_id = request_id
        self.retry_after = retry_after
        self.headers: dict[str, str] = dict(headers or {})
        self.body = body

    def __str__(self) -> str:
        facts = [f"http_status={self.http_status}"]
        for name in ("type", "code", "param", "request_id"):
            value = getattr(self, name)
            if value is not None:
                facts.append(f"{name}={value}")
        return f"{self.message} ({', '.join(facts)})"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(http_status={self.http_status!r}, type={self.type!r}, "
            f"code={self.code!r}, request_id={self.request_id!r})"
        )


class AuthenticationError(APIError):
    """401 ``authentication_error``: missing, invalid, revoked or expired API key."""


class PermissionDeniedError(APIError):
    """403 ``permission_error``: the key may not perform this operation."""


class InvalidRequestError(APIError):
    """400/413 ``invalid_request_error``: validation failed, bad version, body too large..."""


class NotFoundError(APIError):
    """404 ``not_found_error``: no such object for this key's organization and environment."""


class ConflictError(APIError):
    """409 ``conflict_error``: duplicate ``patient_id``, reused idempotency key, ..."""


class RateLimitError(APIError):
    """429 ``rate_limit_error``: slow down; ``retry_after`` says for how long."""


class BillingError(APIError):
    """402 ``billing_error``: plan limit or feature not enabled."""


class EHRError(APIError):
    """502 ``ehr_error``: an upstream EHR / OAuth / FHIR server failed."""


class APIServerError(APIError):
    """5xx ``api_error`` (or any 5xx without an envelope): a server-side fault."""


_BY_TYPE: dict[str, type[APIError]] = {
    "authentication_error": AuthenticationError,
    "permission_error": PermissionDeniedError,
    "invalid_request_error": InvalidRequestError,
    "not_found_error": NotFoundError,
    "conflict_error": ConflictError,
    "rate_limit_error": RateLimitError,
    "billing_error": BillingError,
    "ehr_error": EHRError,
    "api_error": APIServerError,
}

_BY_STATUS: dict[int, type[APIError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    402: BillingError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: InvalidRequestError,
    422: InvalidRequestError,
    429: RateLimitError,
}


def _class_for(error_type: str | None, status: int) -> type[APIError]:
    if error_type in _BY_TYPE:
        return _BY_TYPE[error_type]
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        return APIServerError
    return APIError


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def error_from_response(
    status: int,
    headers: Mapping[str, str],
    content: bytes,
    *,
    retry_after: float | None = None,
) -> APIError:
    """Build the right :class:`APIError` subclass from an error response.

    Never raises: a body that is not the envelope still yields an error carrying the status and
    the ``X-Request-Id`` header.
    """
    header_request_id = headers.get("x-request-id")
    envelope: dict[str, Any] | None = None
    body: Any
    try:
        body = json.loads(content) if content else None
    except (ValueError, UnicodeDecodeError):
        body = content.decode("utf-8", errors="replace")
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        envelope = body["error"]
    if envelope is None:
        return _class_for(None, status)(
            f"HTTP {status} without an ehrconnect error envelope",
            http_status=status,
            request_id=header_request_id,
            retry_after=retry_after,
            headers=headers,
            body=body,
        )
    error_type = _str_or_none(envelope.get("type"))
    return _class_for(error_type, status)(
        _str_or_none(envelope.get("message")) or f"HTTP {status}",
        http_status=status,
        type=error_type,
        code=_str_or_none(envelope.get("code")),
        param=_str_or_none(envelope.get("param")),
        doc_url=_str_or_none(envelope.get("doc_url")),
        request_id=_str_or_none(envelope.get("request_id")) or header_request_id,
        retry_after=retry_after,
        headers=headers,
        body=body,
    )
