"""Each fault profile does what it says, at its own base URL."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from urllib.parse import urlencode

from ehrconnect.sandbox_ehr import PROFILES, sandbox_sources
from sandbox_helpers import ALBERTO, PUBLIC_CLIENT, Portal, http


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_sandbox_sources_cover_every_profile() -> None:
    sources = sandbox_sources("http://127.0.0.1:8000/sandbox-ehr/")
    assert [s.profile for s in sources] == [p.key for p in PROFILES]
    assert {s.profile for s in sources} == {
        "normal",
        "slow",
        "flaky",
        "short-token",
        "refresh-revoked",
        "deny",
        "portal-down",
        "no-offline",
    }
    flaky = next(s for s in sources if s.profile == "flaky")
    assert flaky.name == "Sandbox Health (flaky)"
    assert flaky.fhir_base_url == "http://127.0.0.1:8000/sandbox-ehr/flaky/fhir"


def test_every_profile_publishes_its_own_endpoints(sandbox_url: str) -> None:
    for profile in PROFILES:
        config = http.get(f"{sandbox_url}/{profile.key}/fhir/.well-known/smart-configuration").json()
        assert config["token_endpoint"] == f"{sandbox_url}/{profile.key}/oauth/token"
        assert config["issuer"] == f"{sandbox_url}/{profile.key}/fhir"
    assert http.get(f"{sandbox_url}/nope/fhir/metadata").status_code == 404


def test_slow_adds_latency(sandbox_url: str) -> None:
    # Lower bounds only: they hold however loaded the machine is.
    started = time.monotonic()
    assert http.get(f"{sandbox_url}/slow/fhir/metadata").status_code == 200
    assert time.monotonic() - started >= 0.3
    portal = Portal(sandbox_url, "slow")
    started = time.monotonic()
    tokens = portal.tokens()
    assert time.monotonic() - started >= 0.3 * 4  # authorize, login, consent, token
    assert http.get(f"{portal.fhir}/Patient/{ALBERTO[1]}", headers=bearer(tokens["access_token"])).status_code == 200
    portal.close()


def test_flaky_fails_fhir_calls_with_retry_after(server_factory: Callable[..., str]) -> None:
    root = server_factory(flaky_failure_rate=0.5, flaky_seed=7, flaky_retry_after_seconds=2)
    portal = Portal(root, "flaky")
    tokens = portal.tokens()  # OAuth endpoints are not flaky
    statuses: Counter[int] = Counter()
    for _ in range(60):
        response = http.get(f"{portal.fhir}/Patient/{ALBERTO[1]}", headers=bearer(tokens["access_token"]))
        statuses[response.status_code] += 1
        if response.status_code == 429:
            assert response.headers["retry-after"] == "2"
        if response.status_code != 200:
            assert response.json()["resourceType"] == "OperationOutcome"
    assert set(statuses) == {200, 429, 500, 503}
    assert 15 <= statuses[200] <= 45
    # Discovery is not flaky, so a client can always start.
    assert all(http.get(f"{portal.fhir}/metadata").status_code == 200 for _ in range(10))
    portal.close()


def test_flaky_is_deterministic_for_a_seed(server_factory: Callable[..., str]) -> None:
    sequences = []
    for _ in range(2):
        root = server_factory(flaky_failure_rate=0.4, flaky_seed=3)
        portal = Portal(root, "flaky")
        token = portal.tokens()["access_token"]
        sequences.append(
            [http.get(f"{portal.fhir}/Patient/{ALBERTO[1]}", headers=bearer(token)).status_code for _ in range(20)]
        )
        portal.close()
    assert sequences[0] == sequences[1]


def test_flaky_rate_zero_and_one(server_factory: Callable[..., str]) -> None:
    never = Portal(server_factory(flaky_failure_rate=0.0), "flaky")
    token = never.tokens()["access_token"]
    assert all(http.get(f"{never.fhir}/Observation", headers=bearer(token)).status_code == 200 for _ in range(10))
    never.close()
    always = Portal(server_factory(flaky_failure_rate=1.0), "flaky")
    token = always.tokens()["access_token"]
    assert all(
        http.get(f"{always.fhir}/Observation", headers=bearer(token)).status_code in (429, 500, 503) for _ in range(10)
    )
    always.close()


def test_short_token_profile(sandbox_url: str, server_factory: Callable[..., str]) -> None:
    portal = Portal(sandbox_url, "short-token")
    assert portal.tokens()["expires_in"] == 60
    portal.close()
    quick = Portal(server_factory(short_access_token_lifetime=2), "short-token")
    tokens = quick.tokens()
    url = f"{quick.fhir}/Patient/{ALBERTO[1]}"
    assert http.get(url, headers=bearer(tokens["access_token"])).status_code == 200
    time.sleep(2.1)
    expired = http.get(url, headers=bearer(tokens["access_token"]))
    assert expired.status_code == 401
    assert 'error="invalid_token"' in expired.headers["www-authenticate"]
    refreshed = http.post(
        f"{quick.oauth}/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": PUBLIC_CLIENT},
    ).json()
    assert http.get(url, headers=bearer(refreshed["access_token"])).status_code == 200
    quick.close()


def test_refresh_revoked_profile(sandbox_url: str) -> None:
    portal = Portal(sandbox_url, "refresh-revoked")
    tokens = portal.tokens()
    assert tokens["refresh_token"]
    response = http.post(
        f"{portal.oauth}/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": PUBLIC_CLIENT},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    portal.close()


def test_deny_profile_refuses_consent(sandbox_url: str) -> None:
    portal = Portal(sandbox_url, "deny")
    launch = portal.launch(decision="allow")
    assert launch.params["error"] == "access_denied"
    assert "code" not in launch.params
    portal.close()


def test_portal_down_profile(sandbox_url: str) -> None:
    portal = Portal(sandbox_url, "portal-down")
    params = portal.authorize_params()
    params.pop("_verifier")
    response = portal.browser.get(f"{portal.oauth}/authorize?{urlencode(params)}")
    assert response.status_code == 503
    assert "text/html" in response.headers["content-type"]
    assert "retry-after" in response.headers
    # Discovery still answers: only the portal is down.
    assert http.get(f"{portal.fhir}/metadata").status_code == 200
    portal.close()


def test_no_offline_profile(sandbox_url: str) -> None:
    portal = Portal(sandbox_url, "no-offline")
    tokens = portal.tokens()  # asks for offline_access
    assert "refresh_token" not in tokens
    assert "offline_access" not in tokens["scope"].split()
    config = http.get(f"{portal.fhir}/.well-known/smart-configuration").json()
    assert "permission-offline" not in config["capabilities"]
    portal.close()
