"""Client registration, client authentication and the shared OAuth endpoint call.

Client authentication follows RFC 6749 §2.3.1 and SMART App Launch 2.x "Client Authentication":
public clients send ``client_id`` in the body; symmetric confidential clients use HTTP Basic
(``client_secret_basic``, which every server MUST support) unless the server only advertises
``client_secret_post`` or the registration says otherwise.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, Literal
from urllib.parse import quote_plus

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr

from ._http import (
    MAX_TOKEN_RESPONSE_BYTES,
    TOKEN_TIMEOUT,
    Clock,
    ResponseTooLarge,
    raise_for_transient,
    read_body_limited,
    send,
    utc_now,
)
from .discovery import SmartConfiguration
from .errors import INVALID_ERROR_RESPONSE, INVALID_TOKEN_RESPONSE, EndpointNotAdvertised, OAuthError

__all__ = [
    "ClientAuthMethod",
    "ClientRegistration",
    "OAuthEndpoint",
    "endpoint_call",
    "scrub",
    "select_auth_method",
]

_MAX_DESCRIPTION = 300


class ClientAuthMethod(StrEnum):
    """Token endpoint client authentication methods (RFC 7591 §2 names)."""

    NONE = "none"
    CLIENT_SECRET_BASIC = "client_secret_basic"
    CLIENT_SECRET_POST = "client_secret_post"


class ClientRegistration(BaseModel):
    """Our registration with one EHR's authorization server.

    ``auth_method`` None means: ``none`` without a secret, otherwise chosen from the server's
    ``token_endpoint_auth_methods_supported`` (basic preferred). The secret never prints.
    """

    model_config = ConfigDict(frozen=True)

    client_id: str
    client_secret: SecretStr | None = None
    auth_method: ClientAuthMethod | None = None

    @property
    def is_confidential(self) -> bool:
        """True when the registration carries a client secret."""
        return self.client_secret is not None


def select_auth_method(client: ClientRegistration, config: SmartConfiguration) -> ClientAuthMethod:
    """The client authentication method to use at ``config``'s token endpoint."""
    if client.client_secret is None:
        if client.auth_method not in (None, ClientAuthMethod.NONE):
            raise ValueError(f"{client.auth_method} requires a client_secret")
        return ClientAuthMethod.NONE
    if client.auth_method is not None:
        return client.auth_method
    supported = config.token_endpoint_auth_methods_supported
    if ClientAuthMethod.CLIENT_SECRET_POST in supported and ClientAuthMethod.CLIENT_SECRET_BASIC not in supported:
        return ClientAuthMethod.CLIENT_SECRET_POST
    # RFC 6749 §2.3.1: servers MUST support HTTP Basic for clients with a password.
    return ClientAuthMethod.CLIENT_SECRET_BASIC


def _basic_header(client_id: str, secret: str) -> str:
    # RFC 6749 §2.3.1: id and secret are form-urlencoded (Appendix B) before Base64.
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def apply_client_auth(
    client: ClientRegistration,
    method: ClientAuthMethod,
    form: dict[str, str],
    headers: dict[str, str],
) -> None:
    """Add client credentials to ``form``/``headers`` according to ``method``."""
    secret = client.client_secret.get_secret_value() if client.client_secret is not None else None
    if method is ClientAuthMethod.NONE or secret is None:
        form["client_id"] = client.client_id
    elif method is ClientAuthMethod.CLIENT_SECRET_POST:
        form["client_id"] = client.client_id
        form["client_secret"] = secret
    else:
        headers["Authorization"] = _basic_header(client.client_id, secret)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Remove any secret we sent from server-supplied text and bound its length."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return text[:_MAX_DESCRIPTION]


def _error_from_body(body: bytes, status: int, error_cls: type[OAuthError], secrets: Iterable[str]) -> OAuthError:
    """RFC 6749 §5.2 error object -> typed error; anything else -> INVALID_ERROR_RESPONSE."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("error"), str) and doc["error"]:
        desc = doc.get("error_description")
        uri = doc.get("error_uri")
        return error_cls(
            scrub(doc["error"], secrets)[:64],
            error_description=scrub(desc, secrets) if isinstance(desc, str) and desc else None,
            error_uri=uri if isinstance(uri, str) and uri.startswith(("https://", "http://")) else None,
            status_code=status,
        )
    return error_cls(INVALID_ERROR_RESPONSE, status_code=status)


OAuthEndpoint = Literal["token", "revocation", "introspection"]
"""Which of the server's OAuth endpoints an :func:`endpoint_call` goes to."""

# Form fields that carry no secret; everything else we send is scrubbed from server error text.
_PUBLIC_FIELDS = frozenset({"grant_type", "token_type_hint", "redirect_uri", "scope", "client_id"})


def _endpoint_url(config: SmartConfiguration, endpoint: OAuthEndpoint) -> str:
    if endpoint == "token":
        return config.token_endpoint  # required by discovery
    url = config.revocation_endpoint if endpoint == "revocation" else config.introspection_endpoint
    if url is None:
        article = "an" if endpoint == "introspection" else "a"
        raise EndpointNotAdvertised(f"server does not advertise {article} {endpoint}_endpoint")
    return url


async def endpoint_call(
    http: httpx.AsyncClient,
    config: SmartConfiguration,
    client: ClientRegistration,
    endpoint: OAuthEndpoint,
    form: Mapping[str, str],
    *,
    error_cls: type[OAuthError],
    http_timeout: httpx.Timeout = TOKEN_TIMEOUT,
    clock: Clock = utc_now,
    expect_json: bool = True,
) -> dict[str, Any]:
    """Authenticate ``client`` and POST ``form`` (``application/x-www-form-urlencoded``) to one of
    ``config``'s OAuth endpoints; the one place the token, revocation and introspection calls share.

    Redirects are never followed (a redirected POST would carry credentials elsewhere). Returns
    the JSON object of a 2xx response (``{}`` when ``expect_json`` is False). Raises
    :class:`EndpointNotAdvertised` when an optional endpoint is missing,
    :class:`SourceUnavailable`/:class:`RateLimited` for network errors, 5xx and 429, and
    ``error_cls`` for OAuth error responses (RFC 6749 §5.2, with any secret we sent scrubbed
    from the server's text) or malformed responses.
    """
    url = _endpoint_url(config, endpoint)
    what = f"{endpoint} endpoint"
    body = dict(form)
    headers = {"Accept": "application/json"}
    apply_client_auth(client, select_auth_method(client, config), body, headers)
    secrets = [v for k, v in body.items() if k not in _PUBLIC_FIELDS]
    if client.client_secret is not None:
        secrets.append(client.client_secret.get_secret_value())
    request = http.build_request("POST", url, data=body, headers=headers, timeout=http_timeout)
    response = await send(http, request, what=what)
    await raise_for_transient(response, what=what, clock=clock)
    status = response.status_code
    try:
        raw = await read_body_limited(response, MAX_TOKEN_RESPONSE_BYTES, what=what)
    except ResponseTooLarge as exc:
        raise error_cls(INVALID_TOKEN_RESPONSE, status_code=status) from exc
    if not 200 <= status < 300:
        raise _error_from_body(raw, status, error_cls, secrets)
    if not expect_json:
        return {}
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error_cls(INVALID_TOKEN_RESPONSE, error_description="response is not JSON", status_code=status) from exc
    if not isinstance(doc, dict):
        raise error_cls(INVALID_TOKEN_RESPONSE, error_description="response is not a JSON object", status_code=status)
    return doc
