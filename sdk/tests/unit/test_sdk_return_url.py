"""parse_return_url on every documented return shape."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from ehrconnect_client import RETURN_ERROR_CODES, ReturnParams, ReturnURLError, parse_return_url

BASE = "https://app.example.com/connected"
SESS = "sess_01J9YQ8M2X4VZ6P2K5RH7M3KQT"


def test_picker_done() -> None:
    params = parse_return_url(f"{BASE}?session_id={SESS}&patient_id=user_42")
    assert params == ReturnParams(session_id=SESS, mode="picker", patient_id="user_42")
    assert params.success is None and not params.failed


def test_direct_success() -> None:
    url = f"{BASE}?session_id={SESS}&patient_id=user_42&success=true&connection_id=fhirsrc_01J9YR9N3X4VZ6P2K5RH7M3LMP"
    params = parse_return_url(url)
    assert params.mode == "direct"
    assert params.success is True
    assert params.connection_id == "fhirsrc_01J9YR9N3X4VZ6P2K5RH7M3LMP"
    assert params.error is None and params.error_description is None


@pytest.mark.parametrize("code", sorted(RETURN_ERROR_CODES))
def test_direct_failure_each_code(code: str) -> None:
    query = urlencode(
        {
            "session_id": SESS,
            "patient_id": "user_42",
            "success": "false",
            "error": code,
            "error_description": "The patient cancelled & left",
        }
    )
    params = parse_return_url(f"{BASE}?{query}")
    assert params.mode == "direct"
    assert params.success is False and params.failed
    assert params.error == code
    assert params.error_description == "The patient cancelled & left"
    assert params.connection_id is None


def test_documented_error_codes() -> None:
    assert {
        "user_denied",
        "oauth_callback_failed",
        "token_exchange_failed",
        "session_expired",
        "source_unavailable",
    } == RETURN_ERROR_CODES


def test_failure_without_description() -> None:
    params = parse_return_url(f"{BASE}?session_id={SESS}&patient_id=u&success=false&error=user_denied")
    assert params.error == "user_denied" and params.error_description is None


def test_app_own_params_are_kept() -> None:
    url = f"https://app.example.com/back?tab=ehr&ref=a%20b&session_id={SESS}&patient_id=user_42"
    params = parse_return_url(url)
    assert params.session_id == SESS
    assert params.extra_params == {"tab": "ehr", "ref": "a b"}


def test_appended_params_win_over_app_params_of_the_same_name() -> None:
    url = f"https://app.example.com/back?error=old&session_id={SESS}&patient_id=u&success=true&connection_id=fhirsrc_1"
    # The app's own "error=old" comes first; the platform's parameters are appended after it.
    url += "&error=user_denied"
    assert parse_return_url(url).error == "user_denied"


def test_upstream_patient_session_id_alias() -> None:
    params = parse_return_url(f"{BASE}?patient_session_id=ps_123&patient_id=user_42")
    assert params.session_id == "ps_123"
    assert "patient_session_id" not in params.extra_params


def test_session_id_preferred_over_alias() -> None:
    assert parse_return_url(f"{BASE}?patient_session_id=ps_1&session_id={SESS}").session_id == SESS


def test_accepts_bare_query_and_mapping() -> None:
    assert parse_return_url(f"session_id={SESS}&patient_id=u").patient_id == "u"
    assert parse_return_url(f"?session_id={SESS}").session_id == SESS
    mapping = {"session_id": SESS, "success": "true", "connection_id": "fhirsrc_1", "utm": "x"}
    params = parse_return_url(mapping)
    assert params.success is True and params.extra_params == {"utm": "x"}


def test_percent_encoded_patient_id() -> None:
    assert parse_return_url(f"{BASE}?session_id={SESS}&patient_id=a%2Fb%2Bc").patient_id == "a/b+c"


@pytest.mark.parametrize(
    "url",
    [BASE, f"{BASE}?patient_id=u", f"{BASE}?session_id=&patient_id=u", f"{BASE}?session_id={SESS}&success=maybe"],
)
def test_invalid_return_urls(url: str) -> None:
    with pytest.raises(ReturnURLError):
        parse_return_url(url)


def test_return_url_error_is_value_error() -> None:
    with pytest.raises(ValueError):
        parse_return_url(BASE)


def test_query_forms_with_urls_inside_values() -> None:
    sess = SESS
    assert parse_return_url(f"session_id={sess}&next=https://app.example.com/x").extra_params == {
        "next": "https://app.example.com/x"
    }
    assert parse_return_url(f"/connected?session_id={sess}&patient_id=u#frag").patient_id == "u"
    assert parse_return_url(f"connected?session_id={sess}").session_id == sess
    assert parse_return_url(f"?session_id={sess}#top").session_id == sess
