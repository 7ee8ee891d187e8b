"""A minimal form-following "browser" for the hosted Connect flow and the sandbox EHR portal.

It keeps cookies, follows redirects by hand (so the final hop to the app's return URL, which is
not a real server, is captured instead of fetched) and submits the first HTML form on a page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx


@dataclass
class HtmlForm:
    action: str
    method: str
    inputs: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str, str]] = field(default_factory=list)


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[HtmlForm] = []
        self.refresh_to: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {name: value or "" for name, value in attrs}
        if tag == "meta" and attr.get("http-equiv", "").lower() == "refresh":
            # HTML "refresh" pragma: "<seconds>;url=<target>" (the parser already unescaped &amp;).
            _, _, target = attr.get("content", "").partition("url=")
            self.refresh_to = target.strip() or None
        elif tag == "form":
            self.forms.append(HtmlForm(attr.get("action", ""), attr.get("method", "get").lower()))
        elif self.forms and tag == "input" and attr.get("name"):
            self.forms[-1].inputs[attr["name"]] = attr.get("value", "")
        elif self.forms and tag == "button" and attr.get("name"):
            self.forms[-1].buttons.append((attr["name"], attr.get("value", "")))


def forms_of(html: str) -> list[HtmlForm]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


def meta_refresh_of(html: str) -> str | None:
    parser = _Forms()
    parser.feed(html)
    return parser.refresh_to


class Browser:
    """Walks pages on `local_origin`; stops at the first redirect that leaves it."""

    def __init__(self, local_origin: str) -> None:
        self.origin = local_origin
        self.http = httpx.Client(follow_redirects=False, timeout=30)

    def close(self) -> None:
        self.http.close()

    def _is_local(self, url: str) -> bool:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}" == self.origin

    def go(self, response: httpx.Response) -> tuple[httpx.Response | None, str]:
        """Follow redirects (and meta refreshes) from `response`; returns (page, url) or
        (None, external_url) once the navigation leaves the local origin."""
        url = str(response.request.url)
        for _ in range(20):
            if response.status_code in (301, 302, 303, 307, 308):
                target = response.headers["location"]
            elif response.status_code == 200 and (refresh := meta_refresh_of(response.text)):
                target = refresh
            else:
                return response, url
            url = urljoin(url, target)
            if not self._is_local(url):
                return None, url
            response = self.http.get(url)
        raise AssertionError("redirect loop")

    def open(self, url: str) -> tuple[httpx.Response | None, str]:
        return self.go(self.http.get(url))

    def submit(
        self, page: httpx.Response, url: str, values: dict[str, str], *, button: tuple[str, str] | None = None
    ) -> tuple[httpx.Response | None, str]:
        forms = forms_of(page.text)
        assert forms, f"no form on {url}: {page.status_code}"
        form = forms[0]
        data = {**form.inputs, **values}
        if button is not None:
            assert button in form.buttons, form.buttons
            data[button[0]] = button[1]
        target = urljoin(url, form.action or url)
        if form.method == "post":
            return self.go(self.http.post(target, data=data))
        return self.go(self.http.get(target, params=data))
