"""return_url validation is strict: the value ends up in a Location header and its origin in the
hosted pages' CSP, so nothing that can end a directive or confuse host parsing gets in."""

from __future__ import annotations

import re

import httpx
import pytest
from ehrconnect.sessions.schemas import RETURN_URL_PATTERN, check_return_url

GOOD = [
    "https://app.example.com/done",
    "https://app.example/back?keep=1&x=%2C#frag",
    "https://app.example:8443",
    "http://localhost:3000/cb",
    "http://127.0.0.1/cb",
    "http://[::1]:8080/cb",
]
BAD = [
    "https://a.example; report-uri https://evil.example/x;/cb",  # CSP directive injection
    "https://evil.com\\@good.com",  # browsers: evil.com; Python's urlsplit: good.com
    "https://evil.com\\.good.com/",
    "https://user:pw@good.example/",
    "https://good.example@evil.example/",
    "https://a.example/ x",
    "https://a.example/\tx",
    "https://a.example/x\n",
    "https://a.example/\x00",
    'https://a.example/"x',
    "https://a.example/'x",
    "https://a.example/a,b",
    "https://a.example/a;b",
    "https://a.example:0/",
    "https://a.example:65536/",
    "https://-bad.example/",
    "https://a..example/",
    "https:///path",
    "http://app.example/cb",  # http only for loopback
    "javascript:alert(1)",
    "https://app.example/\u00e9",
]


@pytest.mark.parametrize("url", GOOD)
def test_accepts_plain_urls(url: str) -> None:
    assert check_return_url(url) == url
    assert re.fullmatch(RETURN_URL_PATTERN, url)  # the OpenAPI pattern agrees


@pytest.mark.parametrize("url", BAD)
def test_rejects_ambiguous_or_injecting_urls(url: str) -> None:
    with pytest.raises(ValueError, match="return_url"):
        check_return_url(url)
    assert not re.fullmatch(RETURN_URL_PATTERN, url)


async def test_session_create_rejects_injection(api: httpx.AsyncClient) -> None:
    for url in BAD[:2]:
        response = await api.post("/sessions", json={"patient_id": "p1", "return_url": url})
        assert response.status_code in (400, 422), response.text
        assert response.json()["error"]["param"] == "return_url"
