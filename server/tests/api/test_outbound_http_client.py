"""The platform's shared outbound HTTP client never keeps cookies (one patient's EHR session must
not leak into another patient's requests to the same host) and never follows redirects."""

from __future__ import annotations

import httpx
from ehrconnect.app import build_context
from ehrconnect.config import Settings


async def test_shared_client_keeps_no_cookies(settings: Settings) -> None:
    ctx = build_context(settings)
    try:
        request = httpx.Request("GET", "https://ehr.example/fhir/Patient")
        response = httpx.Response(
            200, request=request, headers={"Set-Cookie": "JSESSIONID=patient-a; Path=/; Secure"}
        )
        ctx.http.cookies.extract_cookies(response)
        assert len(ctx.http.cookies.jar) == 0
        assert ctx.http.follow_redirects is False
    finally:
        await ctx.http.aclose()
        await ctx.db.dispose()
