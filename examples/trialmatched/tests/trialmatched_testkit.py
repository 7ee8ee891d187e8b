"""Helpers shared by the TrialMatched tests: signing in through the real forms, CSRF scraping."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin

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


class _FormScan(HTMLParser):
    """Collects each form's action and named inputs, and a meta-refresh target."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []
        self.refresh: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append((found.get("action", ""), {}))
        elif tag == "input" and self.forms and found.get("name"):
            self.forms[-1][1][found["name"]] = found.get("value", "")
        elif tag == "meta" and found.get("http-equiv", "").lower() == "refresh":
            self.refresh = found.get("content", "").partition("url=")[2].strip() or None


def scan(html: str) -> _FormScan:
    parser = _FormScan()
    parser.feed(html)
    return parser


class PortalWalker:
    """Plays the patient's browser through the hosted pages and the sandbox EHR, without a
    browser: keeps cookies, follows redirects by hand and stops at the first URL that leaves the
    platform (the app's return URL, which the caller then requests from the app under test)."""

    def __init__(self, platform_url: str) -> None:
        self.platform = platform_url
        self.http = httpx.Client(timeout=30, follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    def go(self, method: str, url: str, data: dict[str, str] | None = None) -> tuple[str, httpx.Response | None]:
        """Request and follow redirects; ``(url, response)``, response None once off-platform."""
        for _ in range(15):
            if not url.startswith(self.platform + "/"):
                return url, None
            response = self.http.request(method, url, data=data)
            if response.is_redirect:
                url, method, data = urljoin(url, response.headers["location"]), "GET", None
                continue
            refresh = scan(response.text).refresh if response.status_code == 200 else None
            if refresh:  # "Taking you back to the app" interstitial
                url = urljoin(url, refresh)
                continue
            return url, response
        raise AssertionError("redirect loop")

    def submit(self, url: str, page: httpx.Response, extra: dict[str, str]) -> tuple[str, httpx.Response | None]:
        action, fields = scan(page.text).forms[0]
        return self.go("POST", urljoin(url, action), {**fields, **extra})

    def direct(self, session_url: str, decision: str, username: str, password: str) -> str:
        """Sign in at the sandbox portal and allow or deny; returns the app URL it ends on."""
        url, page = self.go("GET", session_url)
        assert page is not None and page.status_code == 200, url
        url, page = self.submit(url, page, {"username": username, "password": password})
        assert page is not None and page.status_code == 200, url
        url, page = self.submit(url, page, {"decision": decision})
        assert page is None, f"still on the platform at {url}"
        return url

    def leave_picker(self, session_url: str) -> str:
        """Open the hosted picker and return to the app without connecting."""
        url, page = self.go("GET", session_url)
        assert page is not None and page.status_code == 200, url
        done = next((a, f) for a, f in scan(page.text).forms if a.endswith("/done"))
        url, page = self.go("POST", urljoin(url, done[0]), done[1])
        assert page is None, url
        return url
