"""Response headers for every page and asset: a strict CSP and the usual hardening.

* No inline script or style anywhere (``script-src 'self'``), so an injected ``<script>`` in
  escaped-but-mishandled data could not run.
* ``form-action`` lists ehrconnect's origin: the "Connect" forms post here and are answered with
  a 303 to the hosted Connect page, and browsers check form redirects against ``form-action``.
* ``Referrer-Policy: no-referrer`` keeps ``session_id`` on the return URL out of Referer headers.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def content_security_policy(hosted_origin: str) -> str:
    """The CSP header value; ``hosted_origin`` is where Connect Sessions live."""
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self'",
            "connect-src 'self'",
            f"form-action 'self' {hosted_origin}",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ]
    )


class SecurityHeaders:
    """Pure ASGI middleware adding the headers above (and ``no-store`` on dynamic responses)."""

    def __init__(self, app: ASGIApp, *, hosted_origin: str) -> None:
        self.app = app
        self.csp = content_security_policy(hosted_origin)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_static = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = self.csp
                headers["X-Content-Type-Options"] = "nosniff"
                headers["X-Frame-Options"] = "DENY"
                headers["Referrer-Policy"] = "no-referrer"
                headers["Cross-Origin-Opener-Policy"] = "same-origin"
                if not is_static:
                    # Pages show one signed-in patient's data: never cache them.
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
