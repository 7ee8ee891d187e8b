"""Token exchange and refresh (RFC 6749 §4.1.3, §5, §6; RFC 7636 §4.5; SMART App Launch 2.x
App Launch "Obtain access token" and "Refresh access token")."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr

from ._http import TOKEN_TIMEOUT, Clock, utc_now
from .client_auth import ClientRegistration, endpoint_call
from .discovery import SmartConfiguration
from .errors import INVALID_TOKEN_RESPONSE, OAuthError, TokenExchangeError, TokenRefreshError
from .scopes import OFFLINE_ACCESS, parse_scopes

__all__ = [
    "WARNING_NO_REFRESH_TOKEN",
    "TokenSet",
    "exchange_authorization_code",
    "parse_token_response",
    "refresh_access_token",
]

logger = logging.getLogger("ehrconnect.smart")

WARNING_NO_REFRESH_TOKEN = "offline_access requested but no refresh_token returned"

# FHIR R4 id datatype: the patient context becomes a URL path segment, so nothing else is accepted.
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


class TokenSet(BaseModel):
    """A validated token response. Token values are :class:`SecretStr`: they never print.

    ``scopes`` are the granted scopes; when the server omitted ``scope`` they are the requested
    ones (RFC 6749 §5.1) and ``scope_returned`` is False. ``expires_at`` is None when the server
    did not send ``expires_in`` (lifetime unknown).
    """

    model_config = ConfigDict(frozen=True)

    access_token: SecretStr
    token_type: str = "Bearer"
    scopes: tuple[str, ...] = ()
    scope_returned: bool = True
    issued_at: datetime
    expires_in: int | None = None
    expires_at: datetime | None = None
    refresh_token: SecretStr | None = None
    refresh_token_rotated: bool = False
    id_token: SecretStr | None = None
    patient: str | None = None
    encounter: str | None = None
    need_patient_banner: bool | None = None
    smart_style_url: str | None = None
    warnings: tuple[str, ...] = ()

    def is_expired(self, now: datetime, *, leeway: timedelta = timedelta(seconds=60)) -> bool:
        """True when the access token is (about to be) expired; unknown lifetime counts as valid."""
        return self.expires_at is not None and now + leeway >= self.expires_at

    def has_scope(self, scope: str) -> bool:
        """True when ``scope`` was granted."""
        return scope in self.scopes


def _parse_expires_in(value: Any) -> int | None:
    # RFC 6749 §5.1: a number of seconds. Some servers send a numeric string; anything else = unknown.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and math.isfinite(value) and value >= 0:
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def parse_token_response(
    doc: dict[str, Any],
    *,
    requested_scopes: Sequence[str],
    require_patient: bool,
    clock: Clock,
    error_cls: type[OAuthError] = TokenExchangeError,
    status_code: int = 200,
    expect_refresh_token: bool = True,
) -> TokenSet:
    """Validate a successful token response (RFC 6749 §5.1, SMART 2.x token response).

    Requires ``access_token`` and ``token_type`` Bearer (case-insensitive, RFC 6750 §4 /
    RFC 6749 §7.1); requires a valid FHIR id in ``patient`` when ``require_patient``.
    Raises ``error_cls`` with :data:`INVALID_TOKEN_RESPONSE` otherwise. When
    ``expect_refresh_token`` and ``offline_access`` was requested, a missing refresh token is
    logged and reported in ``warnings`` (the connection will not outlive the access token).
    """

    def invalid(reason: str) -> OAuthError:
        return error_cls(INVALID_TOKEN_RESPONSE, error_description=reason, status_code=status_code)

    access_token = doc.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise invalid("access_token missing")
    token_type = doc.get("token_type")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise invalid("token_type is not Bearer")

    patient = doc.get("patient")
    if patient is not None and (not isinstance(patient, str) or not _FHIR_ID.fullmatch(patient)):
        raise invalid("patient context is not a FHIR id")
    if require_patient and patient is None:
        # SMART 2.x: a patient-level grant comes with a "patient" launch context parameter.
        raise invalid("patient context missing")
    encounter = doc.get("encounter")

    scope = doc.get("scope")
    if isinstance(scope, str) and scope.strip():
        scopes, scope_returned = parse_scopes(scope), True
    else:
        # RFC 6749 §5.1: scope may be omitted when identical to the requested scope.
        scopes, scope_returned = tuple(dict.fromkeys(requested_scopes)), False

    issued_at = clock()
    expires_in = _parse_expires_in(doc.get("expires_in"))
    expires_at = issued_at + timedelta(seconds=expires_in) if expires_in is not None else None

    refresh = doc.get("refresh_token")
    refresh_token = SecretStr(refresh) if isinstance(refresh, str) and refresh else None
    id_token = doc.get("id_token")
    warnings: list[str] = []
    if expect_refresh_token and refresh_token is None and OFFLINE_ACCESS in requested_scopes:
        warnings.append(WARNING_NO_REFRESH_TOKEN)
        logger.warning("token response: %s", WARNING_NO_REFRESH_TOKEN)
    banner = doc.get("need_patient_banner")
    style = doc.get("smart_style_url")
    return TokenSet(
        access_token=SecretStr(access_token),
        token_type="Bearer",
        scopes=scopes,
        scope_returned=scope_returned,
        issued_at=issued_at,
        expires_in=expires_in,
        expires_at=expires_at,
        refresh_token=refresh_token,
        id_token=SecretStr(id_token) if isinstance(id_token, str) and id_token else None,
        patient=patient,
        encounter=encounter if isinstance(encounter, str) and encounter else None,
        need_patient_banner=banner if isinstance(banner, bool) else None,
        smart_style_url=style if isinstance(style, str) and style else None,
        warnings=tuple(warnings),
    )


async def exchange_authorization_code(
    http: httpx.AsyncClient,
    config: SmartConfiguration,
    client: ClientRegistration,
    *,
    code: str,
    redirect_uri: str,
    code_verifier: str,
    requested_scopes: Sequence[str],
    require_patient: bool = True,
    clock: Clock = utc_now,
    http_timeout: httpx.Timeout = TOKEN_TIMEOUT,
) -> TokenSet:
    """Exchange an authorization code for tokens (RFC 6749 §4.1.3 + RFC 7636 §4.5).

    ``redirect_uri`` must equal the one in the authorization request. Raises
    :class:`TokenExchangeError` (``is_invalid_grant`` for a used/expired code),
    :class:`SourceUnavailable`/:class:`RateLimited` (network, 5xx, 429).
    """
    if not code:
        raise TokenExchangeError("invalid_request", error_description="authorization code missing")
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": code_verifier,
    }
    doc = await endpoint_call(
        http, config, client, "token", form, error_cls=TokenExchangeError, http_timeout=http_timeout, clock=clock
    )
    return parse_token_response(doc, requested_scopes=requested_scopes, require_patient=require_patient, clock=clock)


async def refresh_access_token(
    http: httpx.AsyncClient,
    config: SmartConfiguration,
    client: ClientRegistration,
    *,
    refresh_token: str | SecretStr,
    previous_scopes: Sequence[str] = (),
    scope: Sequence[str] | None = None,
    clock: Clock = utc_now,
    http_timeout: httpx.Timeout = TOKEN_TIMEOUT,
) -> TokenSet:
    """Use a refresh token (RFC 6749 §6; SMART 2.x "Refresh access token").

    ``scope`` (optional) narrows the request; otherwise the original grant applies. When the
    server omits ``scope`` the result falls back to ``scope`` or ``previous_scopes``. If the
    response carries a new refresh token it replaces the old one (``refresh_token_rotated``);
    otherwise the old one is carried forward, so callers can always persist
    ``result.refresh_token``. Raises :class:`TokenRefreshError` (``is_invalid_grant``: the grant
    is dead, re-authorize) or :class:`SourceUnavailable`/:class:`RateLimited` (retry later).
    """
    old = refresh_token.get_secret_value() if isinstance(refresh_token, SecretStr) else refresh_token
    if not old:
        raise TokenRefreshError("invalid_request", error_description="refresh token missing")
    form = {"grant_type": "refresh_token", "refresh_token": old}
    if scope is not None:
        form["scope"] = " ".join(dict.fromkeys(scope))
    doc = await endpoint_call(
        http, config, client, "token", form, error_cls=TokenRefreshError, http_timeout=http_timeout, clock=clock
    )
    fallback = tuple(scope) if scope is not None else tuple(previous_scopes)
    # Refresh responses need not repeat launch context nor re-issue a refresh token.
    tokens = parse_token_response(
        doc,
        requested_scopes=fallback,
        require_patient=False,
        clock=clock,
        error_cls=TokenRefreshError,
        expect_refresh_token=False,
    )
    new = tokens.refresh_token.get_secret_value() if tokens.refresh_token is not None else None
    return tokens.model_copy(
        update={
            "refresh_token": tokens.refresh_token if new is not None else SecretStr(old),
            "refresh_token_rotated": new is not None and new != old,
        }
    )
