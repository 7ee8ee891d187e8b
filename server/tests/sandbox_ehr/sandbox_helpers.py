"""Helpers for the sandbox EHR tests: the sandbox as a real HTTP server (uvicorn in a thread) and
a portal driver that follows the pages' HTML forms with httpx, as a browser would."""

from __future__ import annotations

import atexit
import base64
import hashlib
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
import uvicorn
from ehrconnect.sandbox_ehr import ClientRegistration, SandboxSettings, create_app
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.routing import Mount

PUBLIC_CLIENT = "test-app"
PUBLIC_REDIRECT = "http://127.0.0.1:1/callback"
CONF_CLIENT = "conf-app"
CONF_SECRET = "conf-secret-123"
CONF_REDIRECT = "http://127.0.0.1:1/conf-callback"
PASSWORD = "sandbox-password"
ALBERTO = ("alberto.atencio", "4e8ed886-fd5f-40bb-8feb-f339b04d853a")
ENDA = ("enda.schaefer", "d070e7dd-4d25-4c52-9fb2-78d232e1cf2c")

# One cookie-less client for API calls: a new httpx client per call costs ~50 ms (TLS context).
http = httpx.Client(timeout=30)
atexit.register(http.close)


def make_settings(**overrides: Any) -> SandboxSettings:
    """Settings with the test clients registered (plus the platform's default client)."""
    clients = [
        ClientRegistration(client_id=PUBLIC_CLIENT, redirect_uris=[PUBLIC_REDIRECT], name="Test App"),
        ClientRegistration(client_id=CONF_CLIENT, redirect_uris=[CONF_REDIRECT], client_secret=SecretStr(CONF_SECRET)),
    ]
    values: dict[str, Any] = {"clients": clients, "slow_latency_ms": 300, **overrides}
    return SandboxSettings(**values)


@contextmanager
def run_server(settings: SandboxSettings, mount: str = "") -> Iterator[str]:
    """Run the sandbox on a free 127.0.0.1 port in a thread; yields its root URL.

    With ``mount`` (e.g. ``/sandbox-ehr``) the sandbox is mounted inside a parent Starlette app,
    as ``ehrconnect serve`` does.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = create_app(settings)
    if mount:
        app = Starlette(routes=[Mount(mount, app=app)])
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", ws="none")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("sandbox server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}{mount}"
    finally:
        server.should_exit = True
        thread.join(10)


# ---------------------------------------------------------------------------------------------
# HTML forms


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str, str]] = field(default_factory=list)
    labels_for: set[str] = field(default_factory=set)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.labels: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(action=a.get("action", ""), method=a.get("method", "get").lower()))
        elif tag == "label" and "for" in a:
            self.labels.add(a["for"])
        elif tag == "input" and self.forms and "name" in a:
            self.forms[-1].fields[a["name"]] = a.get("value", "")
        elif tag == "button" and self.forms and "name" in a:
            self.forms[-1].buttons.append((a["name"], a.get("value", "")))


def parse_forms(html: str) -> tuple[list[Form], set[str]]:
    """The page's forms and the ids its labels point at."""
    parser = _FormParser()
    parser.feed(html)
    return parser.forms, parser.labels


def pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge) per RFC 7636."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


@dataclass
class Launch:
    """Result of driving the portal: the final redirect's query parameters."""

    redirect: str
    params: dict[str, str]
    verifier: str

    @property
    def code(self) -> str:
        return self.params["code"]


class Portal:
    """Drives authorize -> login -> consent like a browser, stopping at the app's redirect."""

    def __init__(self, root: str, profile: str = "normal") -> None:
        self.root = root
        self.profile = profile
        self.fhir = f"{root}/{profile}/fhir"
        self.oauth = f"{root}/{profile}/oauth"
        self.browser = httpx.Client(follow_redirects=False, timeout=30)

    def authorize_params(self, **overrides: str) -> dict[str, str]:
        verifier, challenge = pkce_pair()
        params = {
            "response_type": "code",
            "client_id": PUBLIC_CLIENT,
            "redirect_uri": PUBLIC_REDIRECT,
            "scope": "launch/patient openid fhirUser offline_access patient/*.rs",
            "state": secrets.token_urlsafe(8),
            "aud": self.fhir,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        params.update(overrides)
        params["_verifier"] = verifier
        return params

    def follow_url(self, url: str, username: str, password: str, decision: str = "allow") -> str:
        """GET the authorize URL, post the login and consent forms; return the app redirect URL."""
        page = self.browser.get(url)
        assert page.status_code == 200, page.text
        (login_form,), labels = parse_forms(page.text)
        assert {"username", "password"} <= labels  # accessible labels
        login_form.fields.update({"username": username, "password": password})
        response = self.browser.post(urljoin(url, login_form.action), data=login_form.fields)
        assert response.status_code == 303, response.text
        consent_url = urljoin(url, response.headers["location"])
        consent = self.browser.get(consent_url)
        assert consent.status_code == 200, consent.text
        (consent_form,), _ = parse_forms(consent.text)
        assert ("decision", "allow") in consent_form.buttons and ("decision", "deny") in consent_form.buttons
        data = {**consent_form.fields, "decision": decision}
        final = self.browser.post(urljoin(consent_url, consent_form.action), data=data)
        assert final.status_code in (302, 303), final.text
        return str(final.headers["location"])

    def launch(self, patient: tuple[str, str] = ALBERTO, decision: str = "allow", **overrides: str) -> Launch:
        params = self.authorize_params(**overrides)
        verifier = params.pop("_verifier")
        url = f"{self.oauth}/authorize?{urlencode(params)}"
        redirect = self.follow_url(url, patient[0], PASSWORD, decision)
        query = {k: v[0] for k, v in parse_qs(urlsplit(redirect).query).items()}
        if "state" in query:
            assert query["state"] == params["state"]
        return Launch(redirect, query, verifier)

    def exchange(self, launch: Launch, **overrides: str) -> httpx.Response:
        data = {
            "grant_type": "authorization_code",
            "code": launch.code,
            "redirect_uri": PUBLIC_REDIRECT,
            "client_id": PUBLIC_CLIENT,
            "code_verifier": launch.verifier,
            **overrides,
        }
        return http.post(f"{self.oauth}/token", data=data)

    def tokens(self, patient: tuple[str, str] = ALBERTO, **overrides: str) -> dict[str, Any]:
        response = self.exchange(self.launch(patient, **overrides))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def close(self) -> None:
        self.browser.close()
