"""Pure-ASGI middleware for the cross-cutting wire conventions.

Request id and `Version` echo on every response, a body-size ceiling (413) and the JSON
content-type rule for API writes, and one access-log line per request (route template only:
paths can carry patient ids).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ehrconnect.api.context import is_api_path
from ehrconnect.errors import error_body
from ehrconnect.versions import LATEST_VERSION, SUPPORTED_VERSIONS

log = structlog.get_logger("ehrconnect.access")


class BodyTooLarge(HTTPException):
    """Raised from `receive` when a streamed body passes the ceiling.

    An `HTTPException` on purpose: FastAPI turns any other exception raised while it reads the
    body into a 400, but re-raises HTTPExceptions, so the 413 handler sees this one.
    """

    def __init__(self) -> None:
        super().__init__(status_code=413, detail="payload_too_large")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, public_url: str, max_body_bytes: int) -> None:
        self.app = app
        self.public_url = public_url
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = str(uuid.uuid4())
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        headers = _headers(scope)
        api = is_api_path(scope["path"])
        started = time.perf_counter()
        status_holder: dict[str, int] = {}
        structlog.contextvars.bind_contextvars(request_id=request_id)

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                extra = [(b"x-request-id", request_id.encode())]
                if api:
                    version = state.get("api_version") or _echo_version(headers.get("version"))
                    extra.append((b"version", version.encode()))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        try:
            if api:
                rejection = self._reject(scope, headers)
                if rejection is not None:
                    status, code, type_, text = rejection
                    await self._send_error(send_wrapper, status, type_, code, text, request_id)
                    return
                nul_param = _nul_parameter(scope)
                if nul_param is not None:
                    await self._send_error(
                        send_wrapper, 400, "invalid_request_error", "invalid_data",
                        "Request parameters must not contain NUL characters.", request_id, param=nul_param,
                    )
                    return
            await self.app(scope, self._limited(receive), send_wrapper)
        except BodyTooLarge:
            if "status" not in status_holder:
                await self._send_error(
                    send_wrapper, 413, "invalid_request_error", "payload_too_large",
                    f"Request bodies are limited to {self.max_body_bytes} bytes.", request_id,
                )
        except Exception as exc:
            # Rendered here rather than by Starlette's ServerErrorMiddleware, which sits outside
            # this middleware: its 500 would miss X-Request-Id and Version, and it re-raises.
            if "status" in status_holder:
                raise
            from ehrconnect.api.handlers import unhandled_error_response

            response = await unhandled_error_response(Request(scope), exc)
            await response(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            log.info(
                "request",
                method=scope["method"],
                route=getattr(route, "path", None) or ("api" if api else "page"),
                status=status_holder.get("status"),
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
            structlog.contextvars.unbind_contextvars("request_id")

    def _reject(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str, str, str] | None:
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            return 413, "payload_too_large", "invalid_request_error", (
                f"Request bodies are limited to {self.max_body_bytes} bytes."
            )
        if scope["method"] in {"POST", "PUT", "PATCH"}:
            has_body = (length is not None and length != "0") or "transfer-encoding" in headers
            content_type = headers.get("content-type", "").split(";")[0].strip().lower()
            if has_body and content_type != "application/json":
                return 415, "unsupported_media_type", "invalid_request_error", (
                    "Send the request body as JSON with `Content-Type: application/json`."
                )
        return None

    def _limited(self, receive: Receive) -> Receive:
        received = 0
        limit = self.max_body_bytes

        async def wrapped() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        return wrapped

    async def _send_error(
        self, send: Send, status: int, type_: str, code: str, message: str, request_id: str,
        param: str | None = None,
    ) -> None:
        body = json.dumps(
            error_body(
                type_=type_, code=code, message=message, param=param,
                public_url=self.public_url, request_id=request_id,
            )
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _nul_parameter(scope: Scope) -> str | None:
    """The path or query parameter carrying a NUL character, if any.

    No identifier or filter can contain one, and PostgreSQL refuses NUL in text outright, so
    such a request is a 400 here rather than a database error (a 500) later."""
    if "\x00" in scope["path"]:
        return "path"
    query = scope.get("query_string", b"").decode("latin-1")
    if "%00" not in query and "\x00" not in query:
        return None
    for name, value in parse_qsl(query, keep_blank_values=True, errors="replace"):
        if "\x00" in name or "\x00" in value:
            return name.replace("\x00", "") or "query"
    return "query"


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _echo_version(requested: str | None) -> str:
    if requested and requested.strip() in SUPPORTED_VERSIONS:
        return requested.strip()
    return LATEST_VERSION


def scope_state(scope: Scope) -> dict[str, Any]:
    state: dict[str, Any] = scope.setdefault("state", {})
    return state
