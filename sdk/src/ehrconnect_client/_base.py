"""The I/O-free core shared by :class:`Client` and :class:`AsyncClient`.

It prepares requests (URL, headers, idempotency key), turns responses into models or errors,
and asks the retry policy what to do after a failure. The sync and async clients only add the
send/sleep loop around it.
"""

from __future__ import annotations

import json
import platform
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from . import _logging
from ._config import ClientConfig
from ._errors import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APITimeoutError,
    error_from_response,
)
from ._response import ResponseInfo
from ._retry import RetryDecision, RetryPolicy, decide, parse_retry_after
from ._version import __version__

M = TypeVar("M", bound=BaseModel)

#: Default timeouts: generous read (record pages can be large), short connect.
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

USER_AGENT = f"ehrconnect-client-python/{__version__} python/{platform.python_version()} httpx/{httpx.__version__}"


class RequestOptions(TypedDict, total=False):
    """Per-call overrides accepted by every resource method as keyword arguments."""

    max_retries: int
    timeout: float | httpx.Timeout | None
    extra_headers: Mapping[str, str]


def encode_segment(value: str, *, name: str = "id") -> str:
    """Percent-encode one path segment completely (``/`` included) so ids cannot alter the route."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string")
    encoded = quote(value, safe="")
    # "." and ".." would be collapsed by URL normalisation (RFC 3986 section 5.2.4).
    if encoded in (".", ".."):
        encoded = encoded.replace(".", "%2E")
    return encoded


@dataclass(frozen=True)
class Route:
    """A request path together with the route template it was filled from.

    Logs and exception messages only ever show ``template`` (``/patients/{id}/records``): the
    concrete path can carry a patient id, which may be an email or another identifier (PHI).
    Resources build both at once so the template never has to be recovered from the path.
    """

    template: str
    path: str

    @classmethod
    def static(cls, path: str) -> Route:
        """A route without ids (``/patients``, ``/health``): template and path are the same."""
        if "{" in path or "}" in path:
            raise ValueError("a static route has no placeholders")
        return cls(template=path, path=path)


@dataclass(frozen=True)
class PreparedCall:
    """One logical API call; the same object is re-sent on every retry."""

    method: str
    path: str
    template: str
    params: dict[str, str] | None
    content: bytes | None
    idempotency_key: str | None
    max_retries: int
    timeout: float | httpx.Timeout | object | None
    extra_headers: Mapping[str, str] = field(default_factory=dict)


class ClientCore:
    """Configuration plus the pure request/response logic."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        retry_policy: RetryPolicy,
        auto_idempotency_keys: bool,
        default_headers: Mapping[str, str] | None,
        jitter_source: Callable[[], float],
        clock: Callable[[], float],
    ) -> None:
        self.config = config
        self.retry_policy = retry_policy
        self.auto_idempotency_keys = auto_idempotency_keys
        self.default_headers = dict(default_headers or {})
        self.jitter_source = jitter_source
        self.clock = clock

    # -- preparing --------------------------------------------------------------------------
    def prepare(
        self,
        method: str,
        route: Route,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        options: RequestOptions | None = None,
    ) -> PreparedCall:
        """Freeze a call: encode the body once and fix the idempotency key for all retries."""
        opts = options or {}
        method = method.upper()
        extra_headers = dict(opts.get("extra_headers", {}))
        # A key smuggled in through extra_headers still counts as the call's key (retry safety).
        for name in [h for h in extra_headers if h.lower() == "idempotency-key"]:
            header_key = extra_headers.pop(name)
            idempotency_key = idempotency_key or header_key
        key = idempotency_key
        if key is None and method == "POST" and self.auto_idempotency_keys:
            key = str(uuid.uuid4())
        max_retries = opts.get("max_retries", self.retry_policy.max_retries)
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        content = None
        if body is not None:
            content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        clean_params = {k: v for k, v in (params or {}).items() if v is not None} or None
        return PreparedCall(
            method=method,
            path=route.path,
            template=route.template,
            params={k: str(v) for k, v in clean_params.items()} if clean_params else None,
            content=content,
            idempotency_key=key,
            max_retries=max_retries,
            timeout=opts.get("timeout", httpx.USE_CLIENT_DEFAULT),
            extra_headers=extra_headers,
        )

    def headers_for(self, call: PreparedCall) -> dict[str, str]:
        """Headers every request carries (RFC 6750 section 2.1 bearer credentials)."""
        headers = {
            "Authorization": f"Bearer {self.config.api_key}",
            "Version": self.config.api_version,
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
        }
        if call.method in WRITE_METHODS:
            headers["Content-Type"] = "application/json"
        if call.idempotency_key is not None:
            headers["Idempotency-Key"] = call.idempotency_key
        headers.update(self.default_headers)
        headers.update(call.extra_headers)
        return headers

    def build_request(self, http: httpx.Client | httpx.AsyncClient, call: PreparedCall) -> httpx.Request:
        """Build the ``httpx.Request`` for one attempt."""
        return http.build_request(
            call.method,
            self.config.base_url + call.path,
            params=call.params,
            content=call.content,
            headers=self.headers_for(call),
            timeout=call.timeout,  # type: ignore[arg-type]
        )

    # -- one attempt's outcome (shared by the sync and async send loops) ------------------------
    def after_response(
        self, call: PreparedCall, response: httpx.Response, model: type[M], retries_done: int, elapsed: float
    ) -> M | RetryDecision:
        """The parsed model of a success, or the retry to make; raises the error when giving up."""
        if response.is_success:
            self.log_success(call, response, elapsed)
            return self.parse(call, response, model)
        error = self.api_error(response)
        decision = self.decide_after_error(call, error, retries_done)
        if not decision.retry:
            self.log_api_error(call, error, retries_done)
            raise error
        self.log_retry(call, decision, retries_done, error.request_id)
        return decision

    def after_send_error(self, call: PreparedCall, exc: httpx.HTTPError, retries_done: int) -> RetryDecision:
        """The retry to make after an attempt got no response; raises when giving up.

        Only transport failures are retried; other ``httpx`` errors (a bad URL, too many
        redirects...) would fail the same way again.
        """
        if isinstance(exc, httpx.TransportError):
            decision = self.decide_after_network_error(call, retries_done)
            if decision.retry:
                self.log_retry(call, decision, retries_done, None)
                return decision
        self.log_connection_error(call, exc, retries_done)
        raise self.connection_error(call, exc) from exc

    # -- failures ---------------------------------------------------------------------------
    def api_error(self, response: httpx.Response) -> APIError:
        """Turn an error response into the matching :class:`APIError` subclass."""
        retry_after = parse_retry_after(response.headers.get("retry-after"), now=self.clock())
        return error_from_response(response.status_code, response.headers, response.content, retry_after=retry_after)

    def decide_after_error(self, call: PreparedCall, error: APIError, retries_done: int) -> RetryDecision:
        """Retry decision after an error response."""
        return decide(
            self._policy_for(call),
            method=call.method,
            has_idempotency_key=call.idempotency_key is not None,
            retries_done=retries_done,
            rand=self.jitter_source(),
            status=error.http_status,
            code=error.code,
            retry_after=error.retry_after,
        )

    def decide_after_network_error(self, call: PreparedCall, retries_done: int) -> RetryDecision:
        """Retry decision after a request that got no response."""
        return decide(
            self._policy_for(call),
            method=call.method,
            has_idempotency_key=call.idempotency_key is not None,
            retries_done=retries_done,
            rand=self.jitter_source(),
        )

    def _policy_for(self, call: PreparedCall) -> RetryPolicy:
        if call.max_retries == self.retry_policy.max_retries:
            return self.retry_policy
        return RetryPolicy(
            max_retries=call.max_retries,
            initial_delay=self.retry_policy.initial_delay,
            max_delay=self.retry_policy.max_delay,
            jitter=self.retry_policy.jitter,
            max_retry_after=self.retry_policy.max_retry_after,
        )

    @staticmethod
    def connection_error(call: PreparedCall, exc: httpx.HTTPError) -> APIConnectionError:
        """Wrap a transport failure; the message names the route template and the exception class,
        never the concrete path or the URL query (both can carry patient identifiers)."""
        cls = APITimeoutError if isinstance(exc, httpx.TimeoutException) else APIConnectionError
        what = "timed out" if cls is APITimeoutError else "failed"
        return cls(
            f"{call.method} {call.template} {what} without a response ({type(exc).__name__})",
            method=call.method,
            path=call.path,
            route=call.template,
        )

    # -- success ----------------------------------------------------------------------------
    @staticmethod
    def parse(call: PreparedCall, response: httpx.Response, model: type[M]) -> M:
        """Validate a 2xx JSON body into ``model`` and attach the :class:`ResponseInfo`."""
        try:
            return ClientCore._parse(response, model)
        except APIResponseValidationError as exc:
            _logging.log_invalid_response(call.method, call.template, status=exc.http_status, request_id=exc.request_id)
            raise

    @staticmethod
    def _parse(response: httpx.Response, model: type[M]) -> M:
        request_id = response.headers.get("x-request-id")
        try:
            payload = response.json()
        except ValueError as exc:
            raise APIResponseValidationError(
                f"HTTP {response.status_code} response body is not JSON",
                http_status=response.status_code,
                request_id=request_id,
            ) from exc
        try:
            obj = model.model_validate(payload)
        except ValidationError as exc:
            # Field names only: input values may be PHI.
            fields = sorted({".".join(str(p) for p in err["loc"]) for err in exc.errors()})
            raise APIResponseValidationError(
                f"unexpected {model.__name__} response shape (fields: {', '.join(fields)})",
                http_status=response.status_code,
                request_id=request_id,
            ) from None
        obj._response = ResponseInfo(  # type: ignore[attr-defined]
            http_status=response.status_code,
            request_id=request_id,
            api_version=response.headers.get("version"),
            idempotent_replayed=response.headers.get("idempotent-replayed", "").lower() == "true",
        )
        return obj

    # -- logging (route templates only, never call.path) ---------------------------------------
    @staticmethod
    def log_retry(call: PreparedCall, decision: RetryDecision, retries_done: int, request_id: str | None) -> None:
        """Record a retry about to happen."""
        _logging.log_retry(
            call.method,
            call.template,
            reason=decision.reason,
            delay=decision.delay,
            retry_number=retries_done + 1,
            request_id=request_id,
        )

    @staticmethod
    def log_api_error(call: PreparedCall, error: APIError, retries_done: int) -> None:
        """Record an error response about to be raised."""
        _logging.log_api_error(call.method, call.template, error, attempt=retries_done + 1)

    @staticmethod
    def log_connection_error(call: PreparedCall, exc: BaseException, retries_done: int) -> None:
        """Record a network failure about to be raised."""
        _logging.log_connection_error(call.method, call.template, exc, attempt=retries_done + 1)

    @staticmethod
    def log_success(call: PreparedCall, response: httpx.Response, elapsed: float) -> None:
        """Debug trace of a success."""
        _logging.log_success(
            call.method,
            call.template,
            status=response.status_code,
            request_id=response.headers.get("x-request-id"),
            elapsed=elapsed,
        )
