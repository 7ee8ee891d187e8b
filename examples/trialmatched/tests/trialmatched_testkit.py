"""Helpers shared by the TrialMatched tests: signing in through the real forms, CSRF scraping."""

from __future__ import annotations

import re

import httpx

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token embedded in a page's forms."""
    match = CSRF.search(html)
    assert match, "page has no CSRF field"
    return match.group(1)


async def sign_in(http: httpx.AsyncClient, username: str = "alice") -> str:
    """Sign in through the form like a browser would; returns the new session's CSRF token."""
    page = await http.get("/")
    response = await http.post("/signin", data={"csrf_token": csrf_of(page.text), "username": username})
    assert response.status_code == 303, response.text
    home = await http.get("/")
    assert home.status_code == 200
    return csrf_of(home.text)
