"""Exception handlers: everything the JSON API returns on failure is the typed envelope."""

from __future__ import annotations

import traceback
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Match

from ehrconnect.api.context import get_context, is_api_path
from ehrconnect.errors import APIError, render

log = structlog.get_logger("ehrconnect.errors")
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")

_FRIENDLY_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
<link rel="stylesheet" href="/static/hosted.css"></head><body><main class="card">
<h1>{title}</h1><p>{text}</p><p class="muted">Reference: {request_id}</p></main></body></html>"""


def request_id_of(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", ""))


def _render(request: Request, error: APIError) -> JSONResponse:
    return render(error, public_url=get_context(request).settings.public_url, request_id=request_id_of(request))


def friendly_page(request: Request, status: int, title: str, text: str) -> HTMLResponse:
    """A plain page for people (hosted flow), never a stack trace."""
    import html

    body = _FRIENDLY_PAGE.format(
        title=html.escape(title), text=html.escape(text), request_id=html.escape(request_id_of(request))
    )
    return HTMLResponse(body, status_code=status)


def _param_of(loc: tuple[Any, ...] | list[Any]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    if not parts:
        return None
    if loc and loc[0] == "header" and parts:
        return parts[0].replace("_", "-").title()
    return ".".join(parts)


async def _validation_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        return _render(request, APIError("bad_request", "The request body is not valid JSON."))
    if first.get("type") == "missing" and tuple(first.get("loc", ())) == ("body",):
        return _render(request, APIError("bad_request", "A JSON object body is required."))
    param = _param_of(first.get("loc", ()))
    message = str(first.get("msg", "Invalid request."))
    if first.get("type") == "extra_forbidden":
        message = f"Unknown field {param!r}."
    elif param:
        message = f"Invalid {param}: {message}"
    return _render(request, APIError("invalid_data", message, param=param))


async def _api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, APIError)
    return _render(request, exc)


async def _http_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if not is_api_path(request.url.path):
        if exc.status_code == 404:
            return friendly_page(request, 404, "Page not found", "This link is not valid.")
        return friendly_page(request, exc.status_code, "Something went wrong", "Please try again.")
    if exc.status_code == 404:
        error = APIError("resource_not_found", f"No route {request.method} {request.url.path}.")
    elif exc.status_code == 405:
        error = APIError(
            "method_not_allowed",
            f"{request.method} is not allowed on this path.",
            headers={"Allow": _allowed_methods(request) or (exc.headers or {}).get("Allow", "")},
        )
    elif exc.status_code == 413:
        error = APIError("payload_too_large", "The request body is too large.")
    else:
        error = APIError("bad_request", str(exc.detail), status=exc.status_code)
    return _render(request, error)


def _allowed_methods(request: Request) -> str:
    """Every method any route accepts on this path (Starlette's Allow names one route's only)."""
    routes = request.app.router.routes
    return ", ".join(
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes)
    )


def _exception_chain(exc: BaseException) -> str:
    """Exception class names along the cause chain. Messages are left out on purpose: they can
    carry PHI or secrets (e.g. SQLAlchemy's IntegrityError quotes the bound parameters)."""
    names: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(names) < 5:
        names.append(f"{type(current).__module__}.{type(current).__qualname__}")
        current = current.__cause__ or current.__context__
    return " <- ".join(names)


def _frames(exc: BaseException) -> str:
    """Where it failed (file:line in function), without source lines or local values.

    Logged as `frames`, not `stack`/`exception`: structlog's renderers treat those specially."""
    return " | ".join(
        f"{frame.filename}:{frame.lineno} in {frame.name}" for frame in traceback.extract_tb(exc.__traceback__)
    )


async def unhandled_error_response(request: Request, exc: Exception) -> Response:
    """The 500 for an unexpected exception: logged with its traceback, never shown to the client."""
    return await _unhandled(request, exc)


async def _unhandled(request: Request, exc: Exception) -> Response:
    route = request.scope.get("route")
    log.error(
        "unhandled_error",
        error_type=_exception_chain(exc),
        route=getattr(route, "path", None),
        frames=_frames(exc),
    )
    if not is_api_path(request.url.path):
        return friendly_page(
            request, 500, "Something went wrong", "An unexpected error happened on our side. Please try again."
        )
    return _render(request, APIError("internal_error", "An unexpected error occurred. It has been logged."))


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(APIError, _api_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
    app.add_exception_handler(Exception, _unhandled)
