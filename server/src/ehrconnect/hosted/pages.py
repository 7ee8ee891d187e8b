"""Rendering of hosted pages: Jinja2 (autoescaped), strict CSP, browser cookie, CSRF tokens.

The hosted pages load only our own CSS/JS (``/static/``), so the CSP allows nothing else: no
inline script or style, no third-party origins. ``form-action`` lists ``'self'`` plus, on pages
whose form ends in a redirect to the app, the ``return_url`` origin (browsers apply form-action
to the redirects that follow a form submission, CSP3 §6.4.1).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from ehrconnect.api.context import AppContext
from ehrconnect.api.handlers import request_id_of
from ehrconnect.api.security import DEFAULT_CSP
from ehrconnect.kit.crypto import constant_time_equal

#: Binds launches (the OAuth `state`) and CSRF tokens to one browser. HttpOnly, SameSite=Lax:
#: sent on the top-level GET redirect back from the EHR, never readable by script.
BROWSER_COOKIE = "ehrconnect_browser"

_env = Environment(
    loader=PackageLoader("ehrconnect.hosted", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


#: A serialized origin (RFC 6454 §6.2) as we emit it into CSP: nothing that could end a directive.
_ORIGIN = re.compile(r"https?://(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?")


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an absolute http(s) URL, rebuilt from its parsed parts (never
    copied from the raw authority), or None when it is not a plain origin."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not host or parts.username is not None:
        return None
    host = f"[{host}]" if ":" in host else host
    origin = f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")
    return origin if _ORIGIN.fullmatch(origin) else None


def form_origins_of(url: str) -> tuple[str, ...]:
    """The extra ``form-action`` origins for a page whose form ends in a redirect to ``url``."""
    origin = origin_of(url)
    return (origin,) if origin is not None else ()


def csp(form_origins: tuple[str, ...] = ()) -> str:
    """The hosted pages' Content-Security-Policy; origins that are not plain origins are dropped
    (defence in depth: a return URL stored before validation was strict cannot inject directives)."""
    extra = [o for o in form_origins if _ORIGIN.fullmatch(o)]
    if not extra:
        return DEFAULT_CSP
    # The platform-wide policy with only form-action widened (one definition of the policy).
    return "; ".join(
        " ".join((d, *extra)) if d.startswith("form-action ") else d
        for d in (part.strip() for part in DEFAULT_CSP.split(";"))
    )


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
    form_origins: tuple[str, ...] = (),
) -> HTMLResponse:
    """Render ``template`` with the strict CSP; never caches (pages show live status)."""
    html = _env.get_template(template).render(request_id=request_id_of(request), **context)
    response = HTMLResponse(html, status_code=status_code)
    response.headers["Content-Security-Policy"] = csp(form_origins)
    response.headers["Cache-Control"] = "no-store"
    return response


def message_page(
    request: Request,
    status_code: int,
    title: str,
    text: str,
    *,
    link: tuple[str, str] | None = None,
) -> HTMLResponse:
    """A friendly one-message page (edge cases). ``link`` = (href, label) for one way onward."""
    return render(
        request,
        "message.html",
        {"title": title, "text": text, "link_href": link[0] if link else None,
         "link_label": link[1] if link else None},
        status_code=status_code,
    )


# --- browser binding and CSRF ------------------------------------------------------------------


def browser_key(request: Request) -> str | None:
    """The browser cookie's value, when present and well-formed."""
    value = request.cookies.get(BROWSER_COOKIE)
    if value and 20 <= len(value) <= 100:
        return value
    return None


def ensure_browser_key(request: Request) -> tuple[str, bool]:
    """(cookie value, whether it is new and must be set on the response)."""
    existing = browser_key(request)
    if existing is not None:
        return existing, False
    return secrets.token_urlsafe(32), True


def set_browser_cookie(response: Response, ctx: AppContext, value: str) -> None:
    """Attach the browser cookie (Secure when the platform is served over https)."""
    response.set_cookie(
        BROWSER_COOKIE,
        value,
        path="/",
        httponly=True,
        samesite="lax",
        secure=ctx.settings.public_url.startswith("https://"),
    )


def csrf_token(ctx: AppContext, purpose: str, session_id: str, browser: str) -> str:
    """A form token bound to (purpose, session, browser cookie) with the server's MAC key."""
    digest = hashlib.sha256(browser.encode()).hexdigest()
    return ctx.cipher.sign(f"csrf|{purpose}|{session_id}|{digest}")


def csrf_ok(ctx: AppContext, purpose: str, session_id: str, browser: str | None, token: str) -> bool:
    """Whether ``token`` was issued to this browser for this session and purpose."""
    if not browser or not token:
        return False
    return constant_time_equal(csrf_token(ctx, purpose, session_id, browser), token)
