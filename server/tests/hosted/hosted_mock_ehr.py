"""A mock EHR (SMART discovery + token endpoint) for httpx.MockTransport."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx

AUTHORIZE = "https://ehr.test/oauth/authorize"
TOKEN = "https://ehr.test/oauth/token"
REVOKE = "https://ehr.test/oauth/revoke"


@dataclass
class MockEhr:
    """Counts requests; ``token_status``/``token_body`` shape the token endpoint's answer."""

    requests: list[httpx.Request] = field(default_factory=list)
    token_status: int = 200
    token_body: dict[str, Any] | None = None
    token_delay: float = 0.0
    discovery_status: int = 200

    async def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path.endswith("/.well-known/smart-configuration"):
            if self.discovery_status != 200:
                return httpx.Response(self.discovery_status)
            return httpx.Response(200, json={
                "authorization_endpoint": AUTHORIZE, "token_endpoint": TOKEN, "revocation_endpoint": REVOKE,
                "capabilities": ["launch-standalone", "client-public", "permission-offline", "permission-v2"],
                "code_challenge_methods_supported": ["S256"], "scopes_supported": ["patient/*.rs"],
            })
        if str(request.url) == TOKEN:
            await asyncio.sleep(self.token_delay)
            body = self.token_body or {
                "access_token": "AT-plaintext-secret", "token_type": "Bearer", "expires_in": 3600,
                "scope": "openid fhirUser offline_access patient/*.rs", "refresh_token": "RT-plaintext-secret",
                "patient": "fhir-pat-1",
            }
            return httpx.Response(self.token_status, json=body)
        return httpx.Response(404)

    def token_calls(self) -> int:
        return sum(1 for r in self.requests if str(r.url) == TOKEN)
