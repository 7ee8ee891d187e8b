"""SMART App Launch / OAuth protocol behaviour, including the negatives a client must not get past."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet
from sandbox_helpers import (
    ALBERTO,
    CONF_CLIENT,
    CONF_REDIRECT,
    CONF_SECRET,
    ENDA,
    PASSWORD,
    PUBLIC_CLIENT,
    PUBLIC_REDIRECT,
    Portal,
    http,
    parse_forms,
)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- discovery -------------------------------------------------------------------------------


def test_smart_configuration_has_required_fields(portal: Portal) -> None:
    body = http.get(f"{portal.fhir}/.well-known/smart-configuration").json()
    oauth = portal.oauth
    assert body["authorization_endpoint"] == f"{oauth}/authorize"
    assert body["token_endpoint"] == f"{oauth}/token"
    assert body["revocation_endpoint"] == f"{oauth}/revoke"
    assert body["introspection_endpoint"] == f"{oauth}/introspect"
    assert body["jwks_uri"] == f"{oauth}/jwks"
    assert body["issuer"] == portal.fhir
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert {"authorization_code", "refresh_token"} <= set(body["grant_types_supported"])
    assert {"launch-standalone", "client-public", "context-standalone-patient", "permission-v2"} <= set(
        body["capabilities"]
    )


def test_capability_statement_lists_oauth_uris_and_types(portal: Portal) -> None:
    response = http.get(f"{portal.fhir}/metadata")
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    security = body["rest"][0]["security"]
    (ext,) = security["extension"]
    uris = {e["url"]: e["valueUri"] for e in ext["extension"]}
    assert uris["authorize"] == f"{portal.oauth}/authorize"
    assert uris["token"] == f"{portal.oauth}/token"
    types = {r["type"]: r for r in body["rest"][0]["resource"]}
    assert {"Patient", "Observation", "Condition", "ExplanationOfBenefit", "Practitioner"} <= set(types)
    obs_params = {p["name"] for p in types["Observation"]["searchParam"]}
    assert {"patient", "_id", "_lastUpdated", "category", "date"} <= obs_params


# --- authorize --------------------------------------------------------------------------------


def _authorize(portal: Portal, **overrides: str) -> httpx.Response:
    params = portal.authorize_params(**overrides)
    params.pop("_verifier")
    params = {k: v for k, v in params.items() if v != ""}
    return portal.browser.get(f"{portal.oauth}/authorize?{urlencode(params)}")


def test_unknown_client_or_redirect_uri_does_not_redirect(portal: Portal) -> None:
    for overrides in ({"client_id": "nope"}, {"redirect_uri": "http://evil.example/cb"}, {"client_id": ""}):
        response = _authorize(portal, **overrides)
        assert response.status_code == 400
        assert "location" not in response.headers
        assert "text/html" in response.headers["content-type"]
        assert "Traceback" not in response.text


def _redirect_error(response: httpx.Response) -> dict[str, str]:
    assert response.status_code in (302, 303), response.text
    location = response.headers["location"]
    assert location.startswith(PUBLIC_REDIRECT)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def test_wrong_aud_is_rejected(portal: Portal) -> None:
    error = _redirect_error(_authorize(portal, aud="http://other.example/fhir", state="s1"))
    assert error["error"] == "invalid_request"
    assert error["state"] == "s1"
    other_profile = _redirect_error(_authorize(portal, aud=portal.fhir.replace("/normal/", "/slow/")))
    assert other_profile["error"] == "invalid_request"


def test_pkce_s256_is_required(portal: Portal) -> None:
    assert _redirect_error(_authorize(portal, code_challenge=""))["error"] == "invalid_request"
    assert _redirect_error(_authorize(portal, code_challenge_method="plain"))["error"] == "invalid_request"
    assert _redirect_error(_authorize(portal, code_challenge_method=""))["error"] == "invalid_request"


def test_response_type_state_and_scope_are_checked(portal: Portal) -> None:
    assert _redirect_error(_authorize(portal, response_type="token"))["error"] == "unsupported_response_type"
    assert _redirect_error(_authorize(portal, state=""))["error"] == "invalid_request"
    assert _redirect_error(_authorize(portal, scope="openid user/*.read"))["error"] == "invalid_scope"


def test_authorize_by_post(portal: Portal) -> None:
    params = portal.authorize_params()
    params.pop("_verifier")
    page = portal.browser.post(f"{portal.oauth}/authorize", data=params)
    assert page.status_code == 200
    (form,), _ = parse_forms(page.text)
    assert {"username", "password", "csrf_token", "tx"} <= set(form.fields)
    bad = portal.browser.post(f"{portal.oauth}/authorize", data={**params, "aud": "http://x/fhir"})
    assert _redirect_error(bad)["error"] == "invalid_request"


def test_deny_redirects_with_access_denied(portal: Portal) -> None:
    launch = portal.launch(decision="deny")
    assert launch.params["error"] == "access_denied"
    assert "code" not in launch.params


def test_wrong_password_shows_the_form_again(portal: Portal) -> None:
    page = _authorize(portal)
    (form,), _ = parse_forms(page.text)
    form.fields.update({"username": ALBERTO[0], "password": "wrong"})
    response = portal.browser.post(form.action, data=form.fields)
    assert response.status_code == 401
    assert "not correct" in response.text
    assert "location" not in response.headers


def test_login_form_is_csrf_protected(portal: Portal, sandbox_url: str) -> None:
    page = _authorize(portal)
    (form,), _ = parse_forms(page.text)
    form.fields.update({"username": ALBERTO[0], "password": PASSWORD})
    tampered = {**form.fields, "csrf_token": "forged"}
    assert portal.browser.post(form.action, data=tampered).status_code == 400
    # Same form posted from another browser (no cookie): refused.
    other = http.post(form.action, data=form.fields)
    assert other.status_code == 400
    assert "location" not in other.headers
    # The real browser still gets through.
    assert portal.browser.post(form.action, data=form.fields).status_code == 303


def test_pages_are_accessible_and_locked_down(portal: Portal) -> None:
    page = _authorize(portal)
    assert '<html lang="en">' in page.text
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert "form-action 'self' http://127.0.0.1:1" in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert "alberto.atencio" in page.text and PASSWORD in page.text  # credentials are listed
    assert "http://" not in page.text.split("<body>")[0].replace(portal.root, "")  # no third-party assets
    css = portal.browser.get(f"{portal.root}/static/portal.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


def test_consent_lists_scopes_in_plain_language(portal: Portal) -> None:
    page = _authorize(portal, scope="launch/patient patient/Observation.rs offline_access")
    (form,), _ = parse_forms(page.text)
    form.fields.update({"username": ALBERTO[0], "password": PASSWORD})
    consent = portal.browser.get(portal.browser.post(form.action, data=form.fields).headers["location"])
    assert "Alberto Atencio" in consent.text
    assert "Read and search your vital signs, lab results and other observations" in consent.text
    assert "Keep access when you are not signed in" in consent.text


# --- token ------------------------------------------------------------------------------------


def test_token_response_and_id_token(portal: Portal) -> None:
    tokens = portal.tokens()
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    assert tokens["patient"] == ALBERTO[1]
    assert set(tokens["scope"].split()) == {"launch/patient", "openid", "fhirUser", "offline_access", "patient/*.rs"}
    assert tokens["refresh_token"]
    keys = KeySet.import_key_set(http.get(f"{portal.oauth}/jwks").json())
    claims = jwt.decode(tokens["id_token"], keys, algorithms=["RS256"]).claims
    assert claims["fhirUser"] == f"{portal.fhir}/Patient/{ALBERTO[1]}"
    assert claims["aud"] == PUBLIC_CLIENT
    assert claims["iss"] == portal.fhir
    assert claims["exp"] > time.time()


def test_no_refresh_token_without_offline_access(portal: Portal) -> None:
    tokens = portal.tokens(scope="launch/patient patient/*.read")
    assert "refresh_token" not in tokens
    assert "id_token" not in tokens


def test_pkce_verifier_missing_or_wrong(portal: Portal) -> None:
    launch = portal.launch()
    missing = portal.exchange(launch, code_verifier="")
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    wrong = portal.exchange(portal.launch(), code_verifier="x" * 50)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    assert wrong.headers["cache-control"] == "no-store"


def test_code_is_single_use_and_reuse_revokes_tokens(portal: Portal) -> None:
    launch = portal.launch()
    first = portal.exchange(launch)
    assert first.status_code == 200
    access = first.json()["access_token"]
    assert http.get(f"{portal.fhir}/Patient/{ALBERTO[1]}", headers=bearer(access)).status_code == 200
    again = portal.exchange(launch)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    # RFC 6749 §4.1.2: tokens issued from a replayed code are revoked.
    assert http.get(f"{portal.fhir}/Patient/{ALBERTO[1]}", headers=bearer(access)).status_code == 401


def test_code_expires(server_factory: Callable[..., str]) -> None:
    portal = Portal(server_factory(code_lifetime=1))
    launch = portal.launch()
    time.sleep(1.2)
    response = portal.exchange(launch)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    portal.close()


def test_code_is_bound_to_redirect_uri_and_client(portal: Portal) -> None:
    wrong_redirect = portal.exchange(portal.launch(), redirect_uri=CONF_REDIRECT)
    assert wrong_redirect.json()["error"] == "invalid_grant"
    wrong_client = portal.exchange(portal.launch(), client_id="ehrconnect-sandbox")
    assert wrong_client.json()["error"] == "invalid_grant"


def test_token_endpoint_errors(portal: Portal) -> None:
    unknown = http.post(f"{portal.oauth}/token", data={"grant_type": "authorization_code", "client_id": "x"})
    assert unknown.status_code == 401 and unknown.json()["error"] == "invalid_client"
    grant = http.post(f"{portal.oauth}/token", data={"grant_type": "password", "client_id": PUBLIC_CLIENT})
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"
    json_body = http.post(f"{portal.oauth}/token", json={"grant_type": "refresh_token"})
    assert json_body.status_code == 400 and json_body.json()["error"] == "invalid_request"


def test_refresh_rotation(portal: Portal) -> None:
    tokens = portal.tokens()
    data = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": PUBLIC_CLIENT}
    first = http.post(f"{portal.oauth}/token", data=data)
    assert first.status_code == 200
    rotated = first.json()
    assert rotated["refresh_token"] != tokens["refresh_token"]
    assert rotated["patient"] == ALBERTO[1]
    reused = http.post(f"{portal.oauth}/token", data=data)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    narrowed = http.post(
        f"{portal.oauth}/token",
        data={**data, "refresh_token": rotated["refresh_token"], "scope": "patient/*.rs offline_access"},
    )
    assert narrowed.status_code == 200
    assert narrowed.json()["scope"] == "offline_access patient/*.rs"


def test_refresh_token_is_bound_to_client(portal: Portal) -> None:
    tokens = portal.tokens()
    response = http.post(
        f"{portal.oauth}/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(CONF_CLIENT, CONF_SECRET),
    )
    assert response.json()["error"] == "invalid_grant"


def _confidential_launch(portal: Portal) -> str:
    params = portal.authorize_params(client_id=CONF_CLIENT, redirect_uri=CONF_REDIRECT)
    verifier = params.pop("_verifier")
    redirect = portal.follow_url(f"{portal.oauth}/authorize?{urlencode(params)}", ALBERTO[0], PASSWORD)
    code = parse_qs(urlsplit(redirect).query)["code"][0]
    return f"code={code}&verifier={verifier}"


def test_confidential_client_basic_and_post(portal: Portal) -> None:
    for method in ("basic", "post", "wrong"):
        params = portal.authorize_params(client_id=CONF_CLIENT, redirect_uri=CONF_REDIRECT)
        verifier = params.pop("_verifier")
        redirect = portal.follow_url(f"{portal.oauth}/authorize?{urlencode(params)}", ALBERTO[0], PASSWORD)
        code = parse_qs(urlsplit(redirect).query)["code"][0]
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CONF_REDIRECT,
            "code_verifier": verifier,
        }
        if method == "basic":
            response = http.post(f"{portal.oauth}/token", data=data, auth=(CONF_CLIENT, CONF_SECRET))
            assert response.status_code == 200, response.text
        elif method == "post":
            response = http.post(
                f"{portal.oauth}/token", data={**data, "client_id": CONF_CLIENT, "client_secret": CONF_SECRET}
            )
            assert response.status_code == 200, response.text
        else:
            basic = base64.b64encode(f"{CONF_CLIENT}:nope".encode()).decode()
            response = http.post(f"{portal.oauth}/token", data=data, headers={"Authorization": f"Basic {basic}"})
            assert response.status_code == 401
            assert response.json()["error"] == "invalid_client"
            assert response.headers["www-authenticate"].startswith("Basic")
    no_secret = http.post(f"{portal.oauth}/token", data={"grant_type": "refresh_token", "client_id": CONF_CLIENT})
    assert no_secret.status_code == 401


def test_revoke_and_introspect(portal: Portal) -> None:
    tokens = portal.tokens()
    form = {"token": tokens["access_token"], "client_id": PUBLIC_CLIENT}
    info = http.post(f"{portal.oauth}/introspect", data=form).json()
    assert info["active"] is True
    assert info["client_id"] == PUBLIC_CLIENT
    assert info["patient"] == ALBERTO[1]
    assert info["fhirUser"] == f"{portal.fhir}/Patient/{ALBERTO[1]}"
    assert info["scope"] == tokens["scope"]
    assert abs(info["exp"] - (time.time() + 3600)) < 60
    revoked = http.post(f"{portal.oauth}/revoke", data={"token": tokens["refresh_token"], "client_id": PUBLIC_CLIENT})
    assert revoked.status_code == 200
    # Revoking the refresh token ends the grant: its access token dies too (RFC 7009 §2.1).
    assert http.post(f"{portal.oauth}/introspect", data=form).json() == {"active": False}
    assert http.get(f"{portal.fhir}/Patient/{ALBERTO[1]}", headers=bearer(tokens["access_token"])).status_code == 401
    refresh = http.post(
        f"{portal.oauth}/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": PUBLIC_CLIENT},
    )
    assert refresh.json()["error"] == "invalid_grant"
    unknown = http.post(f"{portal.oauth}/revoke", data={"token": "unknown", "client_id": PUBLIC_CLIENT})
    assert unknown.status_code == 200


# --- FHIR access ------------------------------------------------------------------------------


def test_bearer_token_required(portal: Portal) -> None:
    for headers in ({}, bearer("not-a-token"), {"Authorization": "Basic abc"}):
        response = http.get(f"{portal.fhir}/Patient/{ALBERTO[1]}", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["resourceType"] == "OperationOutcome"


def test_token_for_patient_a_cannot_read_patient_b(portal: Portal) -> None:
    alberto = portal.tokens(ALBERTO)["access_token"]
    enda = portal.tokens(ENDA)["access_token"]
    assert http.get(f"{portal.fhir}/Patient/{ENDA[1]}", headers=bearer(alberto)).status_code == 404
    forbidden = http.get(f"{portal.fhir}/Observation", params={"patient": ENDA[1]}, headers=bearer(alberto))
    assert forbidden.status_code == 403
    assert forbidden.json()["resourceType"] == "OperationOutcome"
    enda_obs = http.get(f"{portal.fhir}/Observation", params={"_count": 1}, headers=bearer(enda)).json()
    obs_id = enda_obs["entry"][0]["resource"]["id"]
    assert http.get(f"{portal.fhir}/Observation/{obs_id}", headers=bearer(alberto)).status_code == 404
    assert http.get(f"{portal.fhir}/Observation/{obs_id}", headers=bearer(enda)).status_code == 200
    everything = http.get(f"{portal.fhir}/Patient/{ENDA[1]}/$everything", headers=bearer(alberto))
    assert everything.status_code == 404
    # A search without a patient parameter only ever returns the token's patient.
    own = http.get(f"{portal.fhir}/Patient", headers=bearer(alberto)).json()
    assert [e["resource"]["id"] for e in own["entry"]] == [ALBERTO[1]]


def test_token_only_works_at_its_profile(portal: Portal) -> None:
    access = portal.tokens()["access_token"]
    slow = portal.fhir.replace("/normal/", "/short-token/")
    assert http.get(f"{slow}/Patient/{ALBERTO[1]}", headers=bearer(access)).status_code == 401


def test_scope_enforcement(portal: Portal) -> None:
    patient_only = portal.tokens(scope="launch/patient patient/Patient.read")["access_token"]
    assert http.get(f"{portal.fhir}/Patient/{ALBERTO[1]}", headers=bearer(patient_only)).status_code == 200
    denied = http.get(f"{portal.fhir}/Observation", headers=bearer(patient_only))
    assert denied.status_code == 403
    assert 'error="insufficient_scope"' in denied.headers["www-authenticate"]

    v1_type = portal.tokens(scope="launch/patient patient/Observation.read")["access_token"]
    assert http.get(f"{portal.fhir}/Observation", headers=bearer(v1_type)).status_code == 200
    assert http.get(f"{portal.fhir}/Condition", headers=bearer(v1_type)).status_code == 403

    read_only = portal.tokens(scope="launch/patient patient/Observation.r")["access_token"]
    assert http.get(f"{portal.fhir}/Observation", headers=bearer(read_only)).status_code == 403
    obs = http.get(f"{portal.fhir}/Observation", headers=bearer(v1_type)).json()["entry"][0]["resource"]
    assert http.get(f"{portal.fhir}/Observation/{obs['id']}", headers=bearer(read_only)).status_code == 200

    v2_all = portal.tokens(scope="launch/patient patient/*.rs")["access_token"]
    assert http.get(f"{portal.fhir}/Condition", headers=bearer(v2_all)).status_code == 200
    # $everything needs Patient read access, and only includes types the token may read.
    no_patient = http.get(f"{portal.fhir}/Patient/{ALBERTO[1]}/$everything", headers=bearer(v1_type))
    assert no_patient.status_code == 403
    obs_and_patient = portal.tokens(scope="launch/patient patient/Patient.rs patient/Observation.rs")
    every = http.get(
        f"{portal.fhir}/Patient/{ALBERTO[1]}/$everything",
        params={"_count": 500},
        headers=bearer(obs_and_patient["access_token"]),
    ).json()
    assert {e["resource"]["resourceType"] for e in every["entry"]} == {"Patient", "Observation"}


def test_search_parameters(portal: Portal) -> None:
    access = bearer(portal.tokens()["access_token"])

    def ids(rtype: str, **params: str) -> list[str]:
        body = http.get(f"{portal.fhir}/{rtype}", params={**params, "_count": "500"}, headers=access).json()
        assert body["type"] == "searchset"
        return [e["resource"]["id"] for e in body.get("entry", [])]

    all_obs = ids("Observation")
    assert len(all_obs) == 35
    vitals = ids("Observation", category="vital-signs")
    surveys = ids("Observation", category="http://terminology.hl7.org/CodeSystem/observation-category|survey")
    assert vitals and surveys and set(vitals).isdisjoint(surveys)
    assert set(ids("Observation", category="vital-signs,survey")) == set(vitals) | set(surveys)
    assert ids("Observation", _id=all_obs[0]) == [all_obs[0]]
    in_2012 = ids("Observation", date="2012")
    after = ids("Observation", date="ge2013-01-01")
    assert in_2012 and after and set(in_2012).isdisjoint(after)
    between = ids("Observation", date=["ge2012-01-01", "lt2013-01-01"])  # type: ignore[arg-type]
    assert set(between) == set(in_2012)
    assert set(ids("Observation", _lastUpdated="ge2013-01-01")) == set(after)
    assert ids("Observation", patient=f"Patient/{ALBERTO[1]}") == all_obs
    assert ids("Observation", unknown_param="x") == all_obs  # lenient by default
    strict = http.get(
        f"{portal.fhir}/Observation", params={"unknown_param": "x"}, headers={**access, "Prefer": "handling=strict"}
    )
    assert strict.status_code == 400
    bad_date = http.get(f"{portal.fhir}/Observation", params={"date": "yesterday"}, headers=access)
    assert bad_date.status_code == 400


def test_paging_links(portal: Portal) -> None:
    access = bearer(portal.tokens()["access_token"])
    url: str | None = f"{portal.fhir}/Observation?category=vital-signs&_count=4"
    seen: list[str] = []
    pages = 0
    while url:
        body = http.get(url, headers=access).json()
        seen += [e["resource"]["id"] for e in body["entry"]]
        links = {link["relation"]: link["url"] for link in body["link"]}
        assert links["self"].startswith(f"{portal.fhir}/Observation?")
        url = links.get("next")
        if url:
            assert "category=vital-signs" in url
        pages += 1
    assert pages > 2
    assert len(seen) == len(set(seen)) == body["total"]


def test_read_returns_resolved_references(portal: Portal) -> None:
    access = bearer(portal.tokens()["access_token"])
    encounter = http.get(f"{portal.fhir}/Encounter", params={"_count": 1}, headers=access).json()["entry"][0]
    resource = encounter["resource"]
    assert encounter["fullUrl"] == f"{portal.fhir}/Encounter/{resource['id']}"
    assert resource["subject"]["reference"] == f"Patient/{ALBERTO[1]}"
    practitioner = resource["participant"][0]["individual"]["reference"]
    assert practitioner.startswith("Practitioner/")
    assert "lastUpdated" in resource["meta"]
    read = http.get(f"{portal.fhir}/{practitioner}", headers=access)
    assert read.status_code == 200
    assert read.json()["resourceType"] == "Practitioner"
    assert "urn:uuid:" not in http.get(f"{portal.fhir}/Patient/{ALBERTO[1]}/$everything", headers=access).text


def test_mounted_under_root_path(server_factory: Callable[..., str]) -> None:
    root = server_factory(mount="/sandbox-ehr")
    portal = Portal(root)
    config = http.get(f"{portal.fhir}/.well-known/smart-configuration").json()
    assert config["authorization_endpoint"] == f"{root}/normal/oauth/authorize"
    assert root.endswith("/sandbox-ehr")
    tokens = portal.tokens()
    body = http.get(f"{portal.fhir}/Observation?_count=5", headers=bearer(tokens["access_token"])).json()
    next_link = next(link["url"] for link in body["link"] if link["relation"] == "next")
    assert next_link.startswith(f"{root}/normal/fhir/Observation?")
    portal.close()


def test_public_root_url_setting(server_factory: Callable[..., str]) -> None:
    root = server_factory(public_root_url="https://ehr.example.org/sandbox-ehr/")
    config = http.get(f"{root}/normal/fhir/.well-known/smart-configuration").json()
    assert config["token_endpoint"] == "https://ehr.example.org/sandbox-ehr/normal/oauth/token"
