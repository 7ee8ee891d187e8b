"""HTML pages: Jinja2 templates with autoescaping, a strict CSP and no third-party assets."""

from __future__ import annotations

from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from .context import sandbox_of
from .profiles import Profile

_env = Environment(loader=PackageLoader("ehrconnect.sandbox_ehr", "templates"), autoescape=True)
_STATIC = resources.files("ehrconnect.sandbox_ehr").joinpath("static")
_STATIC_FILES = {"portal.css": "text/css", "favicon.svg": "image/svg+xml"}


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
    profile: Profile | None = None,
    redirect_origin: str | None = None,
) -> HTMLResponse:
    """Render a page with security headers.

    ``redirect_origin`` is added to CSP ``form-action`` because browsers apply form-action to the
    redirect that follows a form post (the consent decision redirects to the app).
    """
    sandbox = sandbox_of(request)
    html = _env.get_template(template).render(
        root_url=sandbox.root_url(request),
        profile_label=profile.display_name if profile else None,
        **context,
    )
    response = HTMLResponse(html, status_code=status_code)
    form_action = "'self'" + (f" {redirect_origin}" if redirect_origin else "")
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'self'; img-src 'self'; "
        f"form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def error_page(
    request: Request,
    heading: str,
    message: str,
    *,
    status_code: int = 400,
    profile: Profile | None = None,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """A friendly error page (never a stack trace)."""
    response = render(
        request,
        "error.html",
        {"title": heading, "heading": heading, "message": message},
        status_code=status_code,
        profile=profile,
    )
    response.headers.update(headers or {})
    return response


async def static_file(request: Request) -> Response:
    """The portal's own assets (stylesheet, icon): no third-party assets anywhere."""
    name = request.path_params["name"]
    media_type = _STATIC_FILES.get(name)
    if media_type is None:
        return error_page(request, "Page not found", "There is nothing at this address.", status_code=404)
    return Response(
        _STATIC.joinpath(name).read_bytes(),
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )
