"""Token revocation (RFC 7009) and introspection (RFC 7662)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr

from ._http import TOKEN_TIMEOUT, Clock, utc_now
from .client_auth import ClientRegistration, endpoint_call
from .discovery import SmartConfiguration
from .errors import (
    INVALID_TOKEN_RESPONSE,
    IntrospectionError,
    SmartError,
    TokenRevocationError,
)
from .scopes import parse_scopes

__all__ = [
    "IntrospectionResult",
    "RevocationOutcome",
    "TokenTypeHint",
    "introspect_token",
    "revoke_token",
    "revoke_tokens",
]

TokenTypeHint = Literal["access_token", "refresh_token"]


def _secret(token: str | SecretStr) -> str:
    return token.get_secret_value() if isinstance(token, SecretStr) else token


def _token_form(token: str | SecretStr, token_type_hint: TokenTypeHint | None) -> dict[str, str]:
    # RFC 7009 §2.1 and RFC 7662 §2.1 share the request shape: token + optional token_type_hint.
    form = {"token": _secret(token)}
    if token_type_hint is not None:
        form["token_type_hint"] = token_type_hint
    return form


async def revoke_token(
    http: httpx.AsyncClient,
    config: SmartConfiguration,
    client: ClientRegistration,
    *,
    token: str | SecretStr,
    token_type_hint: TokenTypeHint | None = None,
    clock: Clock = utc_now,
    http_timeout: httpx.Timeout = TOKEN_TIMEOUT,
) -> None:
    """Revoke one token at the server's revocation endpoint (RFC 7009 §2.1).

    A 200 means revoked, including for an already-invalid token (§2.2). Raises
    :class:`EndpointNotAdvertised` without a ``revocation_endpoint``, :class:`TokenRevocationError`
    for an error response (§2.2.1, e.g. ``unsupported_token_type``), and
    :class:`SourceUnavailable`/:class:`RateLimited` on network errors, 5xx (503 per §2.2.1) or 429.
    """
    form = _token_form(token, token_type_hint)
    await endpoint_call(
        http,
        config,
        client,
        "revocation",
        form,
        error_cls=TokenRevocationError,
        http_timeout=http_timeout,
        clock=clock,
        expect_json=False,  # §2.2: the content of a successful response is ignored
    )


class RevocationOutcome(BaseModel):
    """Result of :func:`revoke_tokens`. ``errors`` holds exception class names (no secrets)."""

    model_config = ConfigDict(frozen=True)

    supported: bool
    refresh_token_revoked: bool = False
    access_token_revoked: bool = False
    errors: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """True when every token given was revoked."""
        return self.supported and not self.errors


async def revoke_tokens(
    http: httpx.AsyncClient,
    config: SmartConfiguration,
    client: ClientRegistration,
    *,
    access_token: str | SecretStr | None = None,
    refresh_token: str | SecretStr | None = None,
    clock: Clock = utc_now,
    http_timeout: httpx.Timeout = TOKEN_TIMEOUT,
) -> RevocationOutcome:
    """Best-effort revocation of a connection's tokens, for disconnect and patient deletion.

    The refresh token goes first: revoking it SHOULD also invalidate access tokens of the same
    grant (RFC 7009 §2.1), and it is the long-lived credential. Never raises for server-side
    failures; they are reported in the outcome so local deletion proceeds regardless.
    """
    if config.revocation_endpoint is None:
        return RevocationOutcome(supported=False)
    revoked = {"refresh_token": False, "access_token": False}
    errors: list[str] = []
    hint: TokenTypeHint
    for hint, token in (("refresh_token", refresh_token), ("access_token", access_token)):
        if token is None or not _secret(token):
            continue
        try:
            await revoke_token(
                http,
                config,
                client,
                token=token,
                token_type_hint=hint,
                clock=clock,
                http_timeout=http_timeout,
            )
        except SmartError as exc:
            errors.append(f"{hint}: {type(exc).__name__}")
        else:
            revoked[hint] = True
    return RevocationOutcome(
        supported=True,
        refresh_token_revoked=revoked["refresh_token"],
        access_token_revoked=revoked["access_token"],
        errors=tuple(errors),
    )


class IntrospectionResult(BaseModel):
    """An introspection response (RFC 7662 §2.2). Only ``active`` is guaranteed."""

    model_config = ConfigDict(frozen=True)

    active: bool
    scopes: tuple[str, ...] = ()
    client_id: str | None = None
    token_type: str | None = None
    expires_at: datetime | None = None
    issued_at: datetime | None = None
    sub: str | None = None
    iss: str | None = None
    patient: str | None = None


def _timestamp(value: Any) -> datetime | None:
    # RFC 7662 §2.2: NumericDate, seconds since the epoch.
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


async def introspect_token(
    http: httpx.AsyncClient,
    config: SmartConfiguration,
    client: ClientRegistration,
    *,
    token: str | SecretStr,
    token_type_hint: TokenTypeHint | None = None,
    clock: Clock = utc_now,
    http_timeout: httpx.Timeout = TOKEN_TIMEOUT,
) -> IntrospectionResult:
    """Ask the server whether ``token`` is active (RFC 7662 §2.1).

    Raises :class:`EndpointNotAdvertised`, :class:`IntrospectionError` (error or malformed
    response, §2.3), :class:`SourceUnavailable`/:class:`RateLimited`.
    """
    form = _token_form(token, token_type_hint)
    doc = await endpoint_call(
        http,
        config,
        client,
        "introspection",
        form,
        error_cls=IntrospectionError,
        http_timeout=http_timeout,
        clock=clock,
    )
    active = doc.get("active")
    if not isinstance(active, bool):
        raise IntrospectionError(INVALID_TOKEN_RESPONSE, error_description="active is not a boolean", status_code=200)
    if not active:  # §2.2: for an inactive token nothing else is meaningful
        return IntrospectionResult(active=False)
    scope = doc.get("scope")
    return IntrospectionResult(
        active=True,
        scopes=parse_scopes(scope) if isinstance(scope, str) else (),
        client_id=_opt_str(doc.get("client_id")),
        token_type=_opt_str(doc.get("token_type")),
        expires_at=_timestamp(doc.get("exp")),
        issued_at=_timestamp(doc.get("iat")),
        sub=_opt_str(doc.get("sub")),
        iss=_opt_str(doc.get("iss")),
        patient=_opt_str(doc.get("patient")),
    )
