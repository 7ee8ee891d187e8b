"""Helpers for the SMART client tests: a routing httpx.MockTransport and a controllable clock."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

BASE = "https://ehr.example.com/fhir"
AUTHORIZE = "https://auth.example.com/oauth2/authorize"
TOKEN = "https://auth.example.com/oauth2/token"
REVOKE = "https://auth.example.com/oauth2/revoke"
INTROSPECT = "https://auth.example.com/oauth2/introspect"

Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]


def well_known_doc(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "issuer": "https://auth.example.com",
        "jwks_uri": "https://auth.example.com/jwks",
        "authorization_endpoint": AUTHORIZE,
        "token_endpoint": TOKEN,
        "revocation_endpoint": REVOKE,
        "introspection_endpoint": INTROSPECT,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "scopes_supported": ["openid", "fhirUser", "offline_access", "patient/*.read"],
        "response_types_supported": ["code"],
        "capabilities": ["launch-standalone", "client-public", "client-confidential-symmetric", "permission-v1"],
        "code_challenge_methods_supported": ["S256"],
    }
    doc.update(overrides)
    return {k: v for k, v in doc.items() if v is not None}


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status, content=json.dumps(body).encode(), headers={"content-type": "application/json", **(headers or {})}
    )


class MockServer:
    """Routes requests by (method, URL without query) and records every request it sees."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        self.requests: list[httpx.Request] = []

    def route(self, method: str, url: str, handler: Handler | httpx.Response) -> None:
        if isinstance(handler, httpx.Response):
            fixed = handler
            # A Response can be read once; rebuild it on each call.
            content = fixed.content
            self.routes[(method, url)] = lambda _req: httpx.Response(
                fixed.status_code, content=content, headers=fixed.headers
            )
        else:
            self.routes[(method, url)] = handler

    def json(self, method: str, url: str, body: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.route(method, url, json_response(status, body, headers))

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        key = (request.method, str(request.url.copy_with(query=None)))
        handler = self.routes.get(key)
        if handler is None:
            return httpx.Response(404, json={"error": "no route"})
        result = handler(request)
        if isinstance(result, httpx.Response):
            return result
        return await result

    def calls(self, url: str) -> list[httpx.Request]:
        return [r for r in self.requests if str(r.url.copy_with(query=None)) == url]


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 4, 25, 12, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
