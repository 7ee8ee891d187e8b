"""Shared HTTP plumbing for the SMART client: timeouts, clocks, bounded JSON reads, status mapping."""

from __future__ import annotations

import email.utils
import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx

from .errors import RateLimited, SourceUnavailable

__all__ = [
    "DISCOVERY_TIMEOUT",
    "FHIR_TIMEOUT",
    "MAX_DISCOVERY_BYTES",
    "MAX_FHIR_PAGE_BYTES",
    "MAX_TOKEN_RESPONSE_BYTES",
    "TOKEN_TIMEOUT",
    "Clock",
    "ResponseTooLarge",
    "create_http_client",
    "describe_url",
    "parse_retry_after",
    "raise_for_transient",
    "read_body_limited",
    "read_json_limited",
    "send",
    "utc_now",
]

Clock = Callable[[], datetime]
"""Returns the current time as an aware UTC datetime. Injectable for tests."""

# Discovery documents are small and fetched on a request path: fail fast.
DISCOVERY_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
# Token endpoints sit on the patient's redirect path; a slow EHR should fail visibly, not hang.
TOKEN_TIMEOUT = httpx.Timeout(20.0, connect=5.0)
# FHIR search pages can be large and slow to generate on the EHR side.
FHIR_TIMEOUT = httpx.Timeout(60.0, connect=10.0)

MAX_DISCOVERY_BYTES = 5 * 1024 * 1024
MAX_TOKEN_RESPONSE_BYTES = 1 * 1024 * 1024
MAX_FHIR_PAGE_BYTES = 64 * 1024 * 1024


def create_http_client(
    *,
    timeout: httpx.Timeout = FHIR_TIMEOUT,
    max_connections: int = 100,
    trust_env: bool = True,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """A pooled client suited to talking to many EHRs on behalf of many patients.

    Cookies are never stored: a shared jar would carry one patient's EHR session cookies into
    another patient's requests to the same host. Redirects are off (each call decides) and TLS
    is verified. ``trust_env`` keeps httpx's handling of proxy environment variables.
    """
    no_cookies = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
    return httpx.AsyncClient(
        timeout=timeout,
        follow_redirects=False,
        cookies=no_cookies,
        trust_env=trust_env,
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections // 5 or 1),
        headers={"User-Agent": "ehrconnect-smart"},
        transport=transport,
    )


def utc_now() -> datetime:
    """Default :data:`Clock`: the current aware UTC time."""
    return datetime.now(UTC)


class ResponseTooLarge(Exception):
    """Internal: a response body exceeded the configured limit."""


def describe_url(url: httpx.URL | str) -> str:
    """Scheme, host, port and path of ``url``: safe for messages (drops query, fragment, userinfo)."""
    u = url if isinstance(url, httpx.URL) else httpx.URL(url)
    port = f":{u.port}" if u.port is not None else ""
    host = f"[{u.host}]" if ":" in u.host else u.host
    return f"{u.scheme}://{host}{port}{u.path}"


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Parse ``Retry-After`` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date. None if absent/bad."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = (when - (now or utc_now())).total_seconds()
    return max(0.0, math.ceil(delta))


async def send(
    http: httpx.AsyncClient,
    request: httpx.Request,
    *,
    what: str,
    follow_redirects: bool = False,
) -> httpx.Response:
    """Send ``request`` streaming; map transport failures to :class:`SourceUnavailable`.

    Redirects are not followed unless asked (only for public, credential-free discovery GETs).
    The caller must close the response (``await response.aclose()``) or read it fully.
    """
    # Never replay cookies a shared client may have stored from another connection's responses.
    request.headers.pop("cookie", None)
    try:
        return await http.send(request, stream=True, follow_redirects=follow_redirects)
    except httpx.TimeoutException as exc:
        raise SourceUnavailable(f"{what}: timed out", url=describe_url(request.url)) from exc
    except httpx.TransportError as exc:
        raise SourceUnavailable(f"{what}: network error ({type(exc).__name__})", url=describe_url(request.url)) from exc


async def read_body_limited(response: httpx.Response, limit: int, *, what: str) -> bytes:
    """Read a streamed body, refusing to buffer more than ``limit`` bytes."""
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        await response.aclose()
        raise ResponseTooLarge(f"{what}: response larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise ResponseTooLarge(f"{what}: response larger than {limit} bytes")
            chunks.append(chunk)
    except httpx.TimeoutException as exc:
        raise SourceUnavailable(f"{what}: timed out reading the body", url=describe_url(response.url)) from exc
    except httpx.TransportError as exc:
        raise SourceUnavailable(
            f"{what}: network error reading the body ({type(exc).__name__})", url=describe_url(response.url)
        ) from exc
    finally:
        await response.aclose()
    return b"".join(chunks)


async def read_json_limited(response: httpx.Response, limit: int, *, what: str) -> Any:
    """Read and decode a JSON body of at most ``limit`` bytes. Raises ``ValueError`` if not JSON."""
    body = await read_body_limited(response, limit, what=what)
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{what}: body is not JSON") from exc


async def raise_for_transient(response: httpx.Response, *, what: str, clock: Clock = utc_now) -> None:
    """Raise :class:`RateLimited` on 429 and :class:`SourceUnavailable` on 5xx (closing the body)."""
    status = response.status_code
    if status == 429:
        await response.aclose()
        retry_after = parse_retry_after(response.headers.get("retry-after"), now=clock())
        raise RateLimited(f"{what}: rate limited (HTTP 429)", retry_after=retry_after, url=describe_url(response.url))
    if status >= 500:
        await response.aclose()
        raise SourceUnavailable(f"{what}: HTTP {status}", status_code=status, url=describe_url(response.url))
