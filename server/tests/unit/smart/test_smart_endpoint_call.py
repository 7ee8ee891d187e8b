"""The four OAuth endpoint operations (exchange, refresh, revoke, introspect) share one request path:
client authentication, no redirects, RFC 6749 §5.2 error mapping, transient-failure mapping and
secret scrubbing must hold for each of them, not only for the token exchange."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest
from ehrconnect.smart import (
    INVALID_ERROR_RESPONSE,
    ClientRegistration,
    EndpointNotAdvertised,
    IntrospectionError,
    OAuthError,
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
    smart_configuration_from_document,
)
from pydantic import SecretStr
from smart_testkit import BASE, INTROSPECT, REVOKE, TOKEN, FakeClock, MockServer, well_known_doc

SENT = "sent-SECRET-credential-42"  # the code / refresh token / token each operation sends
CLIENT_SECRET = "cs-SECRET-client"
CONFIDENTIAL = ClientRegistration(client_id="ehrconnect", client_secret=SecretStr(CLIENT_SECRET))

Call = Callable[[httpx.AsyncClient, SmartConfiguration, FakeClock], Awaitable[object]]


@dataclass(frozen=True)
class Operation:
    name: str
    url: str
    error_cls: type[OAuthError]
    call: Call


async def _exchange(http: httpx.AsyncClient, cfg: SmartConfiguration, clock: FakeClock) -> object:
    return await exchange_authorization_code(
        http,
        cfg,
        CONFIDENTIAL,
        code=SENT,
        redirect_uri="https://platform.example.org/cb",
        code_verifier="v" * 43,
        requested_scopes=["patient/*.read"],
        clock=clock,
    )


async def _refresh(http: httpx.AsyncClient, cfg: SmartConfiguration, clock: FakeClock) -> object:
    return await refresh_access_token(http, cfg, CONFIDENTIAL, refresh_token=SecretStr(SENT), clock=clock)


async def _revoke(http: httpx.AsyncClient, cfg: SmartConfiguration, clock: FakeClock) -> object:
    await revoke_token(http, cfg, CONFIDENTIAL, token=SENT, token_type_hint="refresh_token", clock=clock)
    return None


async def _introspect(http: httpx.AsyncClient, cfg: SmartConfiguration, clock: FakeClock) -> object:
    return await introspect_token(http, cfg, CONFIDENTIAL, token=SecretStr(SENT), clock=clock)


OPERATIONS = [
    Operation("exchange", TOKEN, TokenExchangeError, _exchange),
    Operation("refresh", TOKEN, TokenRefreshError, _refresh),
    Operation("revoke", REVOKE, TokenRevocationError, _revoke),
    Operation("introspect", INTROSPECT, IntrospectionError, _introspect),
]
each_operation = pytest.mark.parametrize("op", OPERATIONS, ids=[op.name for op in OPERATIONS])


def config() -> SmartConfiguration:
    return smart_configuration_from_document(well_known_doc(), BASE)


@each_operation
async def test_confidential_client_authenticates_with_basic(
    op: Operation, server: MockServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    server.json("POST", op.url, {"error": "invalid_request"}, status=400)
    with pytest.raises(op.error_cls):
        await op.call(http, config(), clock)
    (request,) = server.requests
    assert request.headers["authorization"].startswith("Basic ")
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert CLIENT_SECRET not in request.content.decode()


@each_operation
async def test_redirect_is_not_followed(
    op: Operation, server: MockServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    server.route("POST", op.url, httpx.Response(307, headers={"location": "https://evil.example.net/steal"}))
    with pytest.raises(op.error_cls) as info:
        await op.call(http, config(), clock)
    assert info.value.error == INVALID_ERROR_RESPONSE and info.value.status_code == 307
    assert len(server.requests) == 1


@each_operation
async def test_oauth_error_maps_to_the_operation_error_with_secrets_scrubbed(
    op: Operation, server: MockServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    description = f"rejected {SENT} from client secret {CLIENT_SECRET}"
    server.json("POST", op.url, {"error": "invalid_client", "error_description": description}, status=401)
    with pytest.raises(op.error_cls) as info:
        await op.call(http, config(), clock)
    err = info.value
    text = f"{err} {err!r} {err.error_description}"
    assert SENT not in text and CLIENT_SECRET not in text and "[redacted]" in text
    assert err.error == "invalid_client" and err.status_code == 401


@each_operation
async def test_5xx_is_source_unavailable_and_429_rate_limited(
    op: Operation, server: MockServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    server.route("POST", op.url, httpx.Response(503))
    with pytest.raises(SourceUnavailable) as unavailable:
        await op.call(http, config(), clock)
    assert unavailable.value.status_code == 503
    server.route("POST", op.url, httpx.Response(429, headers={"Retry-After": "12"}))
    with pytest.raises(RateLimited) as limited:
        await op.call(http, config(), clock)
    assert limited.value.retry_after == 12


@each_operation
async def test_network_failure_is_source_unavailable(op: Operation, clock: FakeClock) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as http:
        with pytest.raises(SourceUnavailable, match="network error"):
            await op.call(http, config(), clock)


@pytest.mark.parametrize(
    ("op", "missing"),
    [(OPERATIONS[2], "revocation_endpoint"), (OPERATIONS[3], "introspection_endpoint")],
    ids=["revoke", "introspect"],
)
async def test_optional_endpoint_missing_sends_nothing(
    op: Operation, missing: str, server: MockServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    cfg = smart_configuration_from_document(well_known_doc(**{missing: None}), BASE)
    with pytest.raises(EndpointNotAdvertised, match=missing):
        await op.call(http, cfg, clock)
    assert server.requests == []
