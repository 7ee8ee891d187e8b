"""PKCE (RFC 7636), scope choice (SMART v1/v2) and the authorization URL."""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest
from ehrconnect.smart import (
    PkceNotSupported,
    SmartConfiguration,
    build_authorize_url,
    code_challenge_s256,
    create_pkce_pair,
    default_scopes,
    ensure_s256_supported,
    format_scopes,
    generate_code_verifier,
    generate_state,
    is_v2_clinical_scope,
    parse_scopes,
    smart_configuration_from_document,
    supports_v2_scopes,
)
from smart_testkit import AUTHORIZE, BASE, well_known_doc


def config(**overrides: Any) -> SmartConfiguration:
    return smart_configuration_from_document(well_known_doc(**overrides), BASE)


# --- PKCE ---


def test_rfc7636_appendix_b_vector() -> None:
    # RFC 7636 Appendix B: the example verifier and its S256 challenge.
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert code_challenge_s256(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


@pytest.mark.parametrize("length", [43, 64, 128])
def test_verifier_length_and_charset(length: int) -> None:
    verifier = generate_code_verifier(length)
    assert len(verifier) == length
    assert re.fullmatch(r"[A-Za-z0-9\-._~]+", verifier)


@pytest.mark.parametrize("length", [42, 129, 0])
def test_verifier_length_bounds(length: int) -> None:
    with pytest.raises(ValueError):
        generate_code_verifier(length)


def test_verifiers_are_high_entropy() -> None:
    verifiers = {generate_code_verifier() for _ in range(500)}
    assert len(verifiers) == 500
    # Character distribution over 32k characters is close to uniform over the 64-symbol
    # base64url alphabet (a subset of RFC 7636's unreserved characters).
    counts = Counter("".join(verifiers))
    assert len(counts) == 64
    expected = 500 * 64 / 64
    assert max(abs(c - expected) for c in counts.values()) < 6 * math.sqrt(expected)


@pytest.mark.parametrize("bad", ["short", "x" * 129, "a" * 42 + " ", "ü" * 43])
def test_challenge_rejects_invalid_verifier(bad: str) -> None:
    with pytest.raises(ValueError):
        code_challenge_s256(bad)


def test_pkce_pair_hides_verifier() -> None:
    pair = create_pkce_pair()
    assert pair.challenge == code_challenge_s256(pair.verifier)
    assert pair.method == "S256"
    assert pair.verifier not in repr(pair)


def test_s256_refusal_only_when_listed_without_it() -> None:
    ensure_s256_supported(config(code_challenge_methods_supported=None))
    ensure_s256_supported(config(code_challenge_methods_supported=["plain", "S256"]))
    with pytest.raises(PkceNotSupported):
        ensure_s256_supported(config(code_challenge_methods_supported=["plain"]))
    with pytest.raises(PkceNotSupported):
        ensure_s256_supported(config(code_challenge_methods_supported=[]))


# --- scopes ---


def test_default_scopes_v1() -> None:
    assert default_scopes(config()) == ["openid", "fhirUser", "offline_access", "patient/*.read"]
    assert default_scopes(None) == ["openid", "fhirUser", "offline_access", "patient/*.read"]


def test_default_scopes_v2_by_capability() -> None:
    cfg = config(capabilities=["launch-standalone", "permission-v2"])
    assert supports_v2_scopes(cfg)
    assert default_scopes(cfg) == ["openid", "fhirUser", "offline_access", "patient/*.rs"]


def test_default_scopes_v2_by_scopes_supported() -> None:
    cfg = config(capabilities=["launch-standalone"], scopes_supported=["openid", "patient/Observation.rs"])
    assert default_scopes(cfg)[-1] == "patient/*.rs"


def test_launch_patient_option() -> None:
    assert "launch/patient" in default_scopes(config(), launch_patient=True)


@pytest.mark.parametrize(
    ("scope", "v2"),
    [
        ("patient/*.rs", True),
        ("user/Observation.cruds", True),
        ("patient/Observation.rs?category=laboratory", True),
        ("system/*.s", True),
        ("patient/*.read", False),
        ("patient/*.*", False),
        ("patient/*.write", False),
        ("patient/*.", False),
        ("patient/*.sr", False),  # letters out of order
        ("openid", False),
    ],
)
def test_v2_scope_detection(scope: str, v2: bool) -> None:
    assert is_v2_clinical_scope(scope) is v2


def test_scope_parse_and_format() -> None:
    assert parse_scopes("openid  fhirUser openid") == ("openid", "fhirUser")
    assert parse_scopes(None) == ()
    assert format_scopes(["a", "b", "a"]) == "a b"
    with pytest.raises(ValueError):
        format_scopes(["has space"])
    with pytest.raises(ValueError):
        format_scopes(['quo"te'])


# --- authorize URL ---


def test_authorize_url_parameters() -> None:
    pair = create_pkce_pair()
    state = generate_state()
    url = build_authorize_url(
        config(),
        client_id="ehrconnect",
        redirect_uri="https://platform.example.org/oauth/callback",
        scopes=["openid", "fhirUser", "offline_access", "patient/*.read"],
        state=state,
        code_challenge=pair.challenge,
    )
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == AUTHORIZE
    params = parse_qs(parts.query)
    assert {k: v[0] for k, v in params.items()} == {
        "response_type": "code",
        "client_id": "ehrconnect",
        "redirect_uri": "https://platform.example.org/oauth/callback",
        "scope": "openid fhirUser offline_access patient/*.read",
        "state": state,
        "aud": BASE,
        "code_challenge": pair.challenge,
        "code_challenge_method": "S256",
    }
    assert all(len(v) == 1 for v in params.values())
    assert "%20" in parts.query and "+" not in parts.query  # spaces percent-encoded
    assert pair.verifier not in url


def test_authorize_url_preserves_endpoint_query_and_replaces_ours() -> None:
    cfg = config(authorization_endpoint=AUTHORIZE + "?tenant=abc&aud=stale&empty=")
    url = build_authorize_url(
        cfg, client_id="c", redirect_uri="https://x/cb", scopes=["openid"], state="s" * 20, code_challenge="ch"
    )
    pairs = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    assert ("tenant", "abc") in pairs
    assert ("empty", "") in pairs
    assert [v for k, v in pairs if k == "aud"] == [BASE]


def test_authorize_url_launch_and_extra_params() -> None:
    url = build_authorize_url(
        config(),
        client_id="c",
        redirect_uri="https://x/cb",
        scopes=["launch", "openid"],
        state="state",
        code_challenge="ch",
        launch="xyz",
        extra_params={"login_hint": "a b"},
    )
    params = dict(parse_qsl(urlsplit(url).query))
    assert params["launch"] == "xyz"
    assert params["login_hint"] == "a b"
    with pytest.raises(ValueError):
        build_authorize_url(
            config(),
            client_id="c",
            redirect_uri="https://x/cb",
            scopes=["openid"],
            state="s",
            code_challenge="ch",
            extra_params={"state": "evil"},
        )


def test_authorize_url_absent_methods_still_sends_s256() -> None:
    url = build_authorize_url(
        config(code_challenge_methods_supported=None),
        client_id="c",
        redirect_uri="https://x/cb",
        scopes=["openid"],
        state="s",
        code_challenge="ch",
    )
    assert dict(parse_qsl(urlsplit(url).query))["code_challenge_method"] == "S256"


def test_authorize_url_refuses_server_without_s256() -> None:
    with pytest.raises(PkceNotSupported):
        build_authorize_url(
            config(code_challenge_methods_supported=["plain"]),
            client_id="c",
            redirect_uri="https://x/cb",
            scopes=["openid"],
            state="s",
            code_challenge="ch",
        )


@pytest.mark.parametrize("missing", ["client_id", "redirect_uri", "state", "code_challenge"])
def test_authorize_url_requires_values(missing: str) -> None:
    kwargs: dict[str, Any] = {"client_id": "c", "redirect_uri": "https://x/cb", "state": "s", "code_challenge": "ch"}
    kwargs[missing] = ""
    with pytest.raises(ValueError):
        build_authorize_url(config(), scopes=["openid"], **kwargs)
    with pytest.raises(ValueError):
        build_authorize_url(config(), scopes=[], **{**kwargs, missing: "x"})


def test_state_generation() -> None:
    assert len({generate_state() for _ in range(100)}) == 100
    assert len(generate_state()) >= 43
    with pytest.raises(ValueError):
        generate_state(8)
