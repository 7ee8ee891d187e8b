"""The sandbox run alone (``python -m ehrconnect.sandbox_ehr``), its landing page and error pages."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from urllib.parse import urlencode

import httpx
from ehrconnect.sandbox_ehr import ClientRegistration, SandboxSettings
from sandbox_helpers import Portal, http, pkce_pair


def test_runs_alone_with_command_line_clients() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "EHRCONNECT_PUBLIC_URL": "http://127.0.0.1:8000"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ehrconnect.sandbox_ehr",
            "--port",
            str(port),
            "--client",
            "cli-app=http://127.0.0.1:1/cli-callback",
            "--confidential-client",
            "cli-conf:pw=http://127.0.0.1:1/conf",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    root = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{root}/normal/fhir/metadata", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        config = httpx.get(f"{root}/normal/fhir/.well-known/smart-configuration").json()
        assert config["authorization_endpoint"] == f"{root}/normal/oauth/authorize"
        _, challenge = pkce_pair()
        for client_id, redirect in (
            ("cli-app", "http://127.0.0.1:1/cli-callback"),
            ("cli-conf", "http://127.0.0.1:1/conf"),
            ("ehrconnect-sandbox", "http://127.0.0.1:8000/oauth/callback"),
        ):
            params = {
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": redirect,
                "scope": "patient/*.rs",
                "state": "x",
                "aud": f"{root}/normal/fhir",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
            page = httpx.get(f"{root}/normal/oauth/authorize?{urlencode(params)}")
            assert page.status_code == 200, (client_id, page.text)
    finally:
        process.terminate()
        process.wait(10)


def test_landing_page_lists_profiles_and_patients(sandbox_url: str) -> None:
    page = http.get(f"{sandbox_url}/")
    assert page.status_code == 200
    assert f"{sandbox_url}/flaky/fhir" in page.text
    assert "Sandbox Health (portal down)" in page.text
    assert "alberto.atencio" in page.text and "large300" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_profile_landing_page(sandbox_url: str) -> None:
    page = http.get(f"{sandbox_url}/flaky")
    assert page.status_code == 200
    assert "Test system: Sandbox Health (flaky)" in page.text
    assert http.get(f"{sandbox_url}/nope").status_code == 404


def test_unknown_paths_get_a_friendly_page(sandbox_url: str) -> None:
    page = http.get(f"{sandbox_url}/no/such/page/here/at/all")
    assert page.status_code == 404
    assert "Page not found" in page.text
    assert "Traceback" not in page.text


def test_expired_consent_link(portal: Portal) -> None:
    page = portal.browser.get(f"{portal.oauth}/consent?tx=unknown")
    assert page.status_code == 400
    assert "expired" in page.text


def test_platform_client_always_registered() -> None:
    settings = SandboxSettings(clients=[ClientRegistration(client_id="x", redirect_uris=["http://x/cb"])])
    assert settings.client("ehrconnect-sandbox") is not None
    assert settings.client("x") is not None
