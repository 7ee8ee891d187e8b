"""Token exchange, refresh, revocation and introspection against a mocked authorization server."""

from __future__ import annotations

import base64
import logging
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from ehrconnect.smart import (
    INVALID_ERROR_RESPONSE,
    INVALID_TOKEN_RESPONSE,
    WARNING_NO_REFRESH_TOKEN,
    ClientAuthMethod,
    ClientRegistration,
    EndpointNotAdvertised,
    IntrospectionError,
    RateLimited,
    SmartConfiguration,
    SourceUnavailable,
    TokenExchangeError,
    TokenRefreshError,
    TokenRevocationError,
    exchange_authorization_code,
    introspect_token,
    refresh_access_token,
    revoke_token,
    revoke_tokens,
    select_auth_method,
    smart_configuration_from_document,
)
from pydantic import SecretStr
from smart_testkit import BASE, INTROSPECT, REVOKE, TOKEN, FakeClock, MockServer, well_known_doc

ACCESS = "at-SECRET-access-0123456789"
REFRESH = "rt-SECRET-refresh-0123456789"
CODE = "code-SECRET-abcdef"
VERIFIER = "v" * 43
CLIENT_SECRET = "cs-SECRET-client"
SCOPES = ["openid", "fhirUser", "offline_access", "patient/*.read"]
PUBLIC = ClientRegistration(client_id="ehrconnect-public")
CONFIDENTIAL = ClientRegistration(client_id="ehrconnect app", client_secret=SecretStr(CLIENT_SECRET))


def config(**overrides: Any) -> SmartConfiguration:
    return smart_configuration_from_document(well_known_doc(**overrides), BASE)


def token_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "access_token": ACCESS,
        "token_type": "Bearer",
        "expires_in": 3600,
        "scope": "openid fhirUser offline_access patient/*.read",
        "refresh_token": REFRESH,
        "patient": "pat-123",
        "id_token": "header.payload.sig",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def form(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode(), keep_blank_values=True).items()}


async def exchange(http: httpx.AsyncClient, clock: FakeClock, client: ClientRegistration = PUBLIC, **kw: Any) -> Any:
    return await exchange_authorization_code(
        http,
        kw.pop("cfg", None) or config(),
        client,
        code=CODE,
        redirect_uri="https://platform.example.org/cb",
        code_verifier=VERIFIER,
        requested_scopes=kw.pop("requested_scopes", SCOPES),
        clock=clock,
        **kw,
    )


# --- exchange: client authentication ---


async def test_public_client_exchange(server: MockServer, http: httpx.AsyncClient, clock: FakeClock) -> None:
    server.json("POST", TOKEN, token_body())
    tokens = await exchange(http, clock)
    req = server.requests[0]
    assert form(req) == {
        "grant_type": "authorization_code",
        "code": CODE,
        "redirect_uri": "https://platform.example.org/cb",
        "code_verifier": VERIFIER,
        "client_id": "ehrconnect-public",
    }
    assert "authorization" not in req.headers
    assert req.headers["content-type"] == "application/x-www-form-urlencoded"
    assert req.headers["accept"] == "application/json"
    assert tokens.access_token.get_secret_value() == ACCESS
    assert tokens.refresh_token is not None and tokens.refresh_token.get_secret_value() == REFRESH
    assert tokens.patient == "pat-123"
    assert tokens.scopes == tuple(SCOPES) and tokens.scope_returned
    assert tokens.expires_in == 3600
    assert tokens.issued_at == clock.now
    assert tokens.expires_at == clock.now + timedelta(hours=1)
    assert tokens.warnings == ()
    assert not tokens.is_expired(clock.now)
    assert tokens.is_expired(clock.now + timedelta(seconds=3550))


async def test_confidential_client_basic_by_default(
    server: MockServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    server.json("POST", TOKEN, token_body())
    await exchange(http, clock, CONFIDENTIAL)
    req = server.requests[0]
    scheme, _, value = req.headers["authorization"].partition(" ")
    assert scheme == "Basic"
    # RFC 6749 §2.3.1: form-urlencoded before Base64 (the space in the client id becomes "+").
    assert base64.b64decode(value).decode() == f"ehrconnect+app:{CLIENT_SECRET}"
    body = form(req)
    assert "client_secret" not in body and "client_id" not in body


async def test_confidential_client_post_when_server_only_supports_post(
    server: MockServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    server.json("POST", TOKEN, token_body())
    await exchange(http, clock, CONFIDENTIAL, cfg=config(token_endpoint_auth_methods_supported=["client_secret_post"]))
    req = server.requests[0]
    assert "authorization" not in req.headers
    assert form(req)["client_id"] == "ehrconnect app"
    assert form(req)["client_secret"] == CLIENT_SECRET


async def test_confidential_client_post_by_registration(
    server: MockServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    server.json("POST", TOKEN, token_body())
    client = CONFIDENTIAL.model_copy(update={"auth_method": ClientAuthMethod.CLIENT_SECRET_POST})
    await exchange(http, clock, client)
    assert form(server.requests[0])["client_secret"] == CLIENT_SECRET


def test_auth_method_selection() -> None:
    assert select_auth_method(PUBLIC, config()) is ClientAuthMethod.NONE
    assert select_auth_method(CONFIDENTIAL, config(token_endpoint_auth_methods_supported=None)) is (
        ClientAuthMethod.CLIENT_SECRET_BASIC
    )
    with pytest.raises(ValueError):
        select_auth_method(
            ClientRegistration(client_id="x", auth_method=ClientAuthMethod.CLIENT_SECRET_BASIC), config()
        )


async def test_token_request_does_not_follow_redirects(
    server: MockServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    server.route("POST", TOKEN, httpx.Response(307, headers={"location": "https://evil.example.net/token"}))
    with pytest.raises(TokenExchangeError) as info:
        await exchange(http, clock, CONFIDENTIAL)
    assert info.value.error == INVALID_ERROR_RESPONSE
    assert info.value.status_code == 307
    assert len(server.requests) == 1


# --- exchange: response validation ---


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"access_token": None}, "access_token"),
        ({"access_token": ""}, "access_token"),
        ({"token_type": "mac"}, "token_type"),
        ({"token_type": None}, "token_type"),
        ({"patient": None}, "patient"),
        ({"patient": "../Observation"}, "patient"),
        ({"patient": 42}, "patient"),
    ],
)
async def test_invalid_token_response(
    server: MockServer, http: httpx.AsyncClient, clock: FakeClock, overrides: dict[str, Any], reason: str
) -> None:
    server.json("POST", TOKEN, token_body(**overrides))
    with pytest.raises(TokenExchangeError) as info:
        await exchange(http, clock)
    err = info.value
    assert err.error == INVALID_TOKEN_RESPONSE and err.is_invalid_response
    assert reason in (err.error_description or "")
    assert not err.is_invalid_grant
    assert ACCESS not in str(err) and ACCESS not in repr(err)


async def test_token_type_is_case_insensitive(server: MockServer, http: httpx.AsyncClient, clock: FakeClock) -> None:
    server.json("POST", TOKEN, token_body(token_type="bearer"))
    assert (await exchange(http, clock)).token_type == "Bearer"


async def test_patient_optional_when_not_required(
    server: MockServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    server.json("POST", TOKEN, token_body(patient=None))
    assert (await exchange(http, clock, require_patient=False)).patient is None


async def test_absent_scope_and_expiry(server: MockServer, http: httpx.AsyncClient, clock: FakeClock) -> None:
    server.json("POST", TOKEN, token_body(scope=None, expires_in=None))
    tokens = await exchange(http, clock)
    assert tokens.scopes == tuple(SCOPES)  # RFC 6749 §5.1: same as requested
    assert not tokens.scope_returned
    assert tokens.expires_in is None and tokens.expires_at is None
    assert not tokens.is_expired(clock.now + timedelta(days=365))


@pytest.mark.parametrize(("raw", "parsed"), [("600", 600), (600.7, 600), ("soon", None), (-5, None), (True, None)])
async def test_expires_in_parsing(
    server: MockServer, http: httpx.AsyncClient, clock: FakeClock, raw: Any, parsed: int | None
) -> None:
    server.json("POST", TOKEN, token_body(expires_in=raw))
    assert (await exchange(http, clock)).expires_in == parsed


async def test_granted_scope_narrower_than_requested(
    server: MockServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    server.json("POST", TOKEN, token_body(scope="openid patient/Observation.read"))
    tokens = await exchange(http, clock)
    assert tokens.scopes == ("openid", "patient/Observation.read")
    assert not tokens.has_scope("offline_access")


async def test_missing_refresh_token_warns(
    server: MockServer, http: httpx.AsyncClient, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    server.json("POST", TOKEN, token_body(refresh_token=None))
    with caplog.at_level(logging.WARNING, logger="ehrconnect.smart"):
        tokens = await exchange(http, clock)
    assert tokens.refresh_token is None
    assert tokens.warnings == (WARNING_NO_REFRESH_TOKEN,)
    assert any(WARNING_NO_REFRESH_TOKEN in r.getMessage() for r in caplog.records)
    assert all(ACCESS not in r.getMessage() for r in caplog.records)


async def test_no_warning_without_offline_access(server: MockServer, http: httpx.AsyncClient, clock: FakeClock) -> None:
    server.json("POST", TOKEN, token_body(refresh_token=None))
    tokens = await exchange(http, clock, requested_scopes=["openid", "patient/*.read"])
    assert tokens.warnings == ()


# --- exchange: error responses (RFC 6749 §5.2) ---


async def test_invalid_grant(server: MockServer, http: httpx.AsyncClient, clock: FakeClock) -> None:
    server.json("POST", TOKEN, {"error": "invalid_grant", "error_description": "code expired"}, status=400)
    with pytest.raises(TokenExchangeError) as info:
        await exchange(http, clock)
    err = info.value
    assert err.error == "invalid_grant" and err.is_invalid_grant
    assert err.error_description == "code expired"
    assert err.status_code == 400
    assert "invalid_grant" in str(err) and "400" in str(err)


async def test_error_description_is_scrubbed_of_sent_secrets(
    server: MockServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    server.json(
        "POST", TOKEN, {"error": "invalid_client", "error_description": f"bad {CLIENT_SECRET} for {CODE}"}, status=401
    )
    with pytest.raises(TokenExchangeError) as info:
        await exchange(http, clock, CONFIDENTIAL)
    text = str(info.value) + repr(info.value) + (info.value.error_description or "")
    assert CLIENT_SECRET not in text and CODE not in text
    assert "[redacted]" in text
    assert info.value.error == "invalid_client" and info.value.status_code == 401


async def test_non_json_error(server: MockServer, http: httpx.AsyncClient, clock: FakeClock) -> None:
    server.route("POST", TOKEN, httpx.Response(400, text="<html>Bad</html>"))
    with pytest.raises(TokenExchangeError) as info:
        await exchange(http, clock)
    assert info.value.error == INVALID_ERROR_RESPONSE and info.value.status_code == 400


async def test_non_json_success(server: MockServer, http: httpx.AsyncClient, clock: FakeClock) -> None:
    server.route("POST", TOKEN, httpx.Response(200, text="access_token=x"))
    with pytest.raises(TokenExchangeError) as info:
        await exchange(http, clock)
    assert info.value.error == INVALID_TOKEN_RESPONSE


async def test_5xx_and_network_are_source_unavailable(
    server: MockServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    server.route("POST", TOKEN, httpx.Response(503))
    with pytest.raises(SourceUnavailable) as info:
        await exchange(http, clock)
    assert info.value.status_code == 503

    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(timeout)) as client:
        with pytest.raises(SourceUnavailable, match="timed out"):
            await exchange(client, clock)


async def test_429_is_rate_limited(server: MockServer, http: httpx.AsyncClient, clock: FakeClock) -> None:
    server.route("POST", TOKEN, httpx.Response(429, headers={"Retry-After": "Sat, 25 Apr 2026 12:00:30 GMT"}))
    with pytest.raises(RateLimited) as info:
        await exchange(http, clock)
    assert info.value.retry_after == 30


# --- secrets never printed ---


async def test_token_set_never_prints_secrets(server: MockServer, http: httpx.AsyncClient, clock: FakeClock) -> None:
    server.json("POST", TOKEN, token_body())
    tokens = await exchange(http, clock)
    for text in (repr(tokens), str(tokens), tokens.model_dump_json()):
        assert ACCESS not in text and REFRESH not in text and "header.payload.sig" not in text
    assert CLIENT_SECRET not in repr(CONFIDENTIAL)


# --- refresh (RFC 6749 §6) ---


async def refresh(http: httpx.AsyncClient, clock: FakeClock, **kw: Any) -> Any:
    return await refresh_access_token(
        http, config(), kw.pop("client", PUBLIC), refresh_token=SecretStr(REFRESH), clock=clock, **kw
    )


async def test_refresh_with_rotation(server: MockServer, http: httpx.AsyncClient, clock: FakeClock) -> None:
    server.json("POST", TOKEN, token_body(access_token="at-2", refresh_token="rt-2", patient=None))
    tokens = await refresh(http, clock, previous_scopes=SCOPES)
    assert form(server.requests[0]) == {
        "grant_type": "refresh_token",
        "refresh_token": REFRESH,
        "client_id": "ehrconnect-public",
    }
    assert tokens.access_token.get_secret_value() == "at-2"
    assert tokens.refresh_token is not None and tokens.refresh_token.get_secret_value() == "rt-2"
    assert tokens.refresh_token_rotated


async def test_refresh_without_rotation_carries_old_token(
    server: MockServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    server.json("POST", TOKEN, token_body(refresh_token=None, scope=None, patient=None))
    tokens = await refresh(http, clock, previous_scopes=SCOPES, client=CONFIDENTIAL)
    assert tokens.refresh_token is not None and tokens.refresh_token.get_secret_value() == REFRESH
    assert not tokens.refresh_token_rotated
    assert tokens.scopes == tuple(SCOPES) and not tokens.scope_returned
    assert tokens.warnings == ()
    assert server.requests[0].headers["authorization"].startswith("Basic ")


async def test_refresh_same_token_returned_is_not_rotation(
    server: MockServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    server.json("POST", TOKEN, token_body())
    assert not (await refresh(http, clock)).refresh_token_rotated


async def test_refresh_narrowing_scope(server: MockServer, http: httpx.AsyncClient, clock: FakeClock) -> None:
    server.json("POST", TOKEN, token_body(scope=None))
    tokens = await refresh(http, clock, scope=["patient/*.read"], previous_scopes=SCOPES)
    assert form(server.requests[0])["scope"] == "patient/*.read"
    assert tokens.scopes == ("patient/*.read",)


async def test_refresh_invalid_grant(server: MockServer, http: httpx.AsyncClient, clock: FakeClock) -> None:
    server.json("POST", TOKEN, {"error": "invalid_grant"}, status=400)
    with pytest.raises(TokenRefreshError) as info:
        await refresh(http, clock)
    assert info.value.is_invalid_grant
    assert REFRESH not in str(info.value) + repr(info.value)


async def test_refresh_invalid_response_is_refresh_error(
    server: MockServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    server.json("POST", TOKEN, token_body(token_type="DPoP"))
    with pytest.raises(TokenRefreshError) as info:
        await refresh(http, clock)
    assert info.value.error == INVALID_TOKEN_RESPONSE


async def test_refresh_outage_is_not_a_refresh_error(
    server: MockServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    server.route("POST", TOKEN, httpx.Response(502))
    with pytest.raises(SourceUnavailable):
        await refresh(http, clock)


# --- revocation (RFC 7009) ---


async def test_revoke_token(server: MockServer, http: httpx.AsyncClient) -> None:
    server.route("POST", REVOKE, httpx.Response(200))
    await revoke_token(http, config(), CONFIDENTIAL, token=SecretStr(REFRESH), token_type_hint="refresh_token")
    body = form(server.requests[0])
    assert body == {"token": REFRESH, "token_type_hint": "refresh_token"}
    assert server.requests[0].headers["authorization"].startswith("Basic ")


async def test_revoke_error_and_unsupported(server: MockServer, http: httpx.AsyncClient) -> None:
    server.json("POST", REVOKE, {"error": "unsupported_token_type"}, status=400)
    with pytest.raises(TokenRevocationError) as info:
        await revoke_token(http, config(), PUBLIC, token=ACCESS, token_type_hint="access_token")
    assert info.value.error == "unsupported_token_type"
    with pytest.raises(EndpointNotAdvertised):
        await revoke_token(http, config(revocation_endpoint=None), PUBLIC, token=ACCESS)


async def test_revoke_tokens_refresh_first_and_best_effort(server: MockServer, http: httpx.AsyncClient) -> None:
    hints: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hint = form(request)["token_type_hint"]
        hints.append(hint)
        return httpx.Response(503) if hint == "access_token" else httpx.Response(200)

    server.route("POST", REVOKE, handler)
    outcome = await revoke_tokens(http, config(), PUBLIC, access_token=ACCESS, refresh_token=SecretStr(REFRESH))
    assert hints == ["refresh_token", "access_token"]
    assert outcome.supported and outcome.refresh_token_revoked and not outcome.access_token_revoked
    assert outcome.errors == ("access_token: SourceUnavailable",)
    assert not outcome.complete
    assert ACCESS not in repr(outcome)

    unsupported = await revoke_tokens(http, config(revocation_endpoint=None), PUBLIC, access_token=ACCESS)
    assert not unsupported.supported and not unsupported.complete


# --- introspection (RFC 7662) ---


async def test_introspect_active(server: MockServer, http: httpx.AsyncClient) -> None:
    server.json(
        "POST",
        INTROSPECT,
        {"active": True, "scope": "openid patient/*.read", "client_id": "c", "exp": 1777118400, "patient": "p1"},
    )
    result = await introspect_token(http, config(), CONFIDENTIAL, token=ACCESS, token_type_hint="access_token")
    assert result.active and result.scopes == ("openid", "patient/*.read")
    assert result.expires_at is not None and result.expires_at.year == 2026
    assert result.patient == "p1"
    assert form(server.requests[0]) == {"token": ACCESS, "token_type_hint": "access_token"}


async def test_introspect_inactive_and_malformed(server: MockServer, http: httpx.AsyncClient) -> None:
    server.json("POST", INTROSPECT, {"active": False, "scope": "ignored"})
    result = await introspect_token(http, config(), CONFIDENTIAL, token=ACCESS)
    assert not result.active and result.scopes == ()
    server.json("POST", INTROSPECT, {"active": "yes"})
    with pytest.raises(IntrospectionError):
        await introspect_token(http, config(), CONFIDENTIAL, token=ACCESS)
    with pytest.raises(EndpointNotAdvertised):
        await introspect_token(http, config(introspection_endpoint=None), CONFIDENTIAL, token=ACCESS)
