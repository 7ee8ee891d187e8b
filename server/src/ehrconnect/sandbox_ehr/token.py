"""Token, revocation, introspection and JWKS endpoints.

RFC 6749 §3.2.1/§2.3.1 client authentication (public clients by ``client_id``; confidential
clients by ``client_secret_basic`` or ``client_secret_post``), §4.1.3 code exchange, §6 refresh,
§5.1/§5.2 responses and errors; RFC 7636 §4.6 PKCE verification; RFC 7009 revocation; RFC 7662
introspection with the SMART App Launch 2.x "Token Introspection" fields.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from . import profiles
from .context import Sandbox, no_store, profile_of, sandbox_of
from .profiles import Profile
from .settings import ClientRegistration
from .state import Grant, Token

_VERIFIER_RE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")  # RFC 7636 §4.1


class OAuthError(Exception):
    """An RFC 6749 §5.2 error response."""

    def __init__(self, error: str, description: str, status_code: int = 400, basic: bool = False) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status_code = status_code
        self.basic = basic

    def response(self) -> Response:
        """The JSON error response."""
        response = JSONResponse(
            {"error": self.error, "error_description": self.description}, status_code=self.status_code
        )
        if self.status_code == 401:
            # §5.2: invalid_client with HTTP Basic answers 401 with a matching challenge.
            response.headers["WWW-Authenticate"] = (
                'Basic realm="sandbox-ehr"' if self.basic else 'Bearer realm="sandbox-ehr"'
            )
        return no_store(response)


async def _form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("application/x-www-form-urlencoded"):
        raise OAuthError("invalid_request", "use application/x-www-form-urlencoded")
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


def authenticate_client(sandbox: Sandbox, request: Request, form: dict[str, str]) -> ClientRegistration:
    """Identify and authenticate the calling client (RFC 6749 §2.3.1, §3.2.1)."""
    header = request.headers.get("authorization", "")
    basic = header[:6].lower() == "basic "
    client_id = form.get("client_id")
    secret = form.get("client_secret")
    if basic:
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError) as exc:
            raise OAuthError("invalid_client", "malformed Basic credentials", 401, basic=True) from exc
        raw_id, sep, raw_secret = decoded.partition(":")
        if not sep:
            raise OAuthError("invalid_client", "malformed Basic credentials", 401, basic=True)
        basic_id, secret_from_header = unquote(raw_id), unquote(raw_secret)
        if client_id is not None and client_id != basic_id:
            raise OAuthError("invalid_request", "client_id does not match the Basic credentials")
        if secret is not None:
            raise OAuthError("invalid_request", "use one client authentication method")
        client_id, secret = basic_id, secret_from_header
    if not client_id:
        raise OAuthError("invalid_client", "client authentication is required", 401, basic=basic)
    client = sandbox.settings.client(client_id)
    if client is None:
        raise OAuthError("invalid_client", "unknown client", 401, basic=basic)
    if client.client_secret is None:
        if secret:
            raise OAuthError("invalid_client", "public clients have no secret", 401, basic=basic)
        return client
    expected = client.client_secret.get_secret_value()
    if not secret or not secrets.compare_digest(secret.encode(), expected.encode()):
        raise OAuthError("invalid_client", "client authentication failed", 401, basic=basic)
    return client


def pkce_ok(verifier: str, challenge: str) -> bool:
    """RFC 7636 §4.6: BASE64URL-ENCODE(SHA256(ASCII(code_verifier))) == code_challenge."""
    if not _VERIFIER_RE.match(verifier):
        return False
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    computed = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    return secrets.compare_digest(computed, challenge)


def _token_response(
    sandbox: Sandbox, request: Request, profile: Profile, grant: Grant, scopes: list[str]
) -> dict[str, Any]:
    lifetime = sandbox.access_token_lifetime(profile)
    body: dict[str, Any] = {
        "access_token": sandbox.state.issue_token(grant, "access", scopes, lifetime),
        "token_type": "Bearer",
        "expires_in": lifetime,
        "scope": " ".join(scopes),
        "patient": grant.patient_id,
        "need_patient_banner": True,
    }
    if "offline_access" in scopes and profile.key != profiles.NO_OFFLINE:
        body["refresh_token"] = sandbox.state.issue_token(
            grant, "refresh", scopes, sandbox.settings.refresh_token_lifetime
        )
    if "openid" in scopes and ("fhirUser" in scopes or "profile" in scopes):
        fhir_base = sandbox.fhir_base(request, profile)
        body["id_token"] = sandbox.keys.id_token(
            issuer=fhir_base,
            subject=grant.patient_id,
            audience=grant.client_id,
            lifetime=lifetime,
            fhir_user=f"{fhir_base}/Patient/{grant.patient_id}" if "fhirUser" in scopes else None,
            nonce=grant.nonce,
        )
    return body


@dataclass(frozen=True)
class _ClientCall:
    """A token-endpoint family request whose profile exists and whose client authenticated."""

    sandbox: Sandbox
    profile: Profile
    client: ClientRegistration
    form: dict[str, str]


async def _client_call(request: Request) -> _ClientCall:
    """The shared start of token, revoke and introspect: profile, fault delay, client auth.

    Raises `OAuthError` (404 for an unknown profile, RFC 6749 §5.2 errors otherwise).
    """
    sandbox = sandbox_of(request)
    profile = profile_of(request)
    if profile is None:
        raise OAuthError("invalid_request", "unknown profile", 404)
    await sandbox.delay(profile)
    form = await _form(request)
    return _ClientCall(sandbox, profile, authenticate_client(sandbox, request, form), form)


def _required_token(form: dict[str, str]) -> str:
    value = form.get("token")
    if not value:
        raise OAuthError("invalid_request", "token is required")
    return value


async def token(request: Request) -> Response:
    """``POST <profile>/oauth/token``: authorization_code and refresh_token grants."""
    try:
        call = await _client_call(request)
        grant_type = call.form.get("grant_type")
        if grant_type == "authorization_code":
            grant, scopes = _exchange_code(call.sandbox, call.profile, call.client, call.form)
        elif grant_type == "refresh_token":
            grant, scopes = _refresh(call.sandbox, call.profile, call.client, call.form)
        elif not grant_type:
            raise OAuthError("invalid_request", "grant_type is required")
        else:
            raise OAuthError("unsupported_grant_type", f"unsupported grant_type {grant_type}")
    except OAuthError as exc:
        return exc.response()
    return no_store(JSONResponse(_token_response(call.sandbox, request, call.profile, grant, scopes)))


def _exchange_code(
    sandbox: Sandbox, profile: Profile, client: ClientRegistration, form: dict[str, str]
) -> tuple[Grant, list[str]]:
    code_value = form.get("code")
    redirect_uri = form.get("redirect_uri")
    verifier = form.get("code_verifier")
    if not code_value or not redirect_uri:
        raise OAuthError("invalid_request", "code and redirect_uri are required")
    if not verifier:
        raise OAuthError("invalid_request", "code_verifier is required (PKCE)")
    code = sandbox.state.redeem_code(code_value)
    if code is None:
        raise OAuthError("invalid_grant", "the code is invalid, expired or already used")
    # §4.1.3: the code is bound to the client, the redirect URI and (here) the profile.
    if code.grant.client_id != client.client_id or code.grant.profile != profile.key:
        raise OAuthError("invalid_grant", "the code was issued to another client")
    if redirect_uri != code.redirect_uri:
        raise OAuthError("invalid_grant", "redirect_uri does not match the authorization request")
    if not pkce_ok(verifier, code.code_challenge):
        raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
    return code.grant, code.grant.scopes


def _refresh(
    sandbox: Sandbox, profile: Profile, client: ClientRegistration, form: dict[str, str]
) -> tuple[Grant, list[str]]:
    value = form.get("refresh_token")
    if not value:
        raise OAuthError("invalid_request", "refresh_token is required")
    if profile.key == profiles.REFRESH_REVOKED:
        raise OAuthError("invalid_grant", "the refresh token has been revoked")
    used = sandbox.state.use_refresh_token(value, client.client_id, profile.key)
    if used is None:
        raise OAuthError("invalid_grant", "the refresh token is invalid, expired, revoked or already used")
    scopes = used.scopes
    requested = form.get("scope")
    if requested:
        # RFC 6749 §6: a refresh may narrow, never widen, the scope.
        narrowed = requested.split()
        if not set(narrowed) <= set(scopes):
            raise OAuthError("invalid_scope", "the requested scope exceeds the original grant")
        scopes = [s for s in scopes if s in narrowed]
    return used.grant, scopes


async def revoke(request: Request) -> Response:
    """``POST <profile>/oauth/revoke`` (RFC 7009): always 200 for a valid request (§2.2)."""
    try:
        call = await _client_call(request)
        value = _required_token(call.form)
    except OAuthError as exc:
        return exc.response()
    call.sandbox.state.revoke(value, call.client.client_id)
    return no_store(Response(status_code=200))


async def introspect(request: Request) -> Response:
    """``POST <profile>/oauth/introspect`` (RFC 7662 §2, SMART "Token Introspection")."""
    try:
        call = await _client_call(request)
        value = _required_token(call.form)
    except OAuthError as exc:
        return exc.response()
    found = call.sandbox.state.token(value)
    if found is None or not found.active or found.grant.profile != call.profile.key:
        return no_store(JSONResponse({"active": False}))
    return no_store(JSONResponse(_introspection(call.sandbox, request, call.profile, found)))


def _introspection(sandbox: Sandbox, request: Request, profile: Profile, found: Token) -> dict[str, Any]:
    fhir_base = sandbox.fhir_base(request, profile)
    body: dict[str, Any] = {
        "active": True,
        "scope": " ".join(found.scopes),
        "client_id": found.grant.client_id,
        "exp": int(found.expires_at),
        "iat": int(found.issued_at),
        "iss": fhir_base,
        "sub": found.grant.patient_id,
        "token_type": "Bearer" if found.kind == "access" else "refresh_token",
        "patient": found.grant.patient_id,
    }
    if "fhirUser" in found.scopes:
        body["fhirUser"] = f"{fhir_base}/Patient/{found.grant.patient_id}"
    return body


async def jwks(request: Request) -> Response:
    """``GET <profile>/oauth/jwks``: the id_token signing key set."""
    sandbox = sandbox_of(request)
    if profile_of(request) is None:
        return JSONResponse({"error": "not_found"}, status_code=404)
    return JSONResponse(sandbox.keys.jwks(), headers={"Cache-Control": "public, max-age=300"})
