"""Authorization request URL (RFC 6749 §4.1.1, RFC 7636 §4.3, SMART App Launch 2.x
App Launch "Obtain authorization code")."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from .discovery import SmartConfiguration
from .pkce import S256, ensure_s256_supported
from .scopes import format_scopes

__all__ = ["build_authorize_url", "generate_state"]

# Parameters we own: an identically named parameter already on the endpoint URL is replaced,
# never duplicated (duplicates are an error per RFC 6749 §3.1).
_OWN_PARAMS = frozenset(
    {
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "aud",
        "code_challenge",
        "code_challenge_method",
    }
)


def generate_state(nbytes: int = 32) -> str:
    """An unguessable ``state`` value (RFC 6749 §10.12: CSRF protection), URL-safe."""
    if nbytes < 16:
        raise ValueError("state needs at least 128 bits of entropy")
    return secrets.token_urlsafe(nbytes)


def build_authorize_url(
    config: SmartConfiguration,
    *,
    client_id: str,
    redirect_uri: str,
    scopes: Sequence[str],
    state: str,
    code_challenge: str,
    aud: str | None = None,
    launch: str | None = None,
    extra_params: Mapping[str, str] | None = None,
) -> str:
    """The URL to send the patient's browser to.

    ``aud`` defaults to the FHIR base URL (SMART 2.x: the app SHALL send ``aud``, the FHIR server
    the token is for, so a token cannot be replayed against another server). Query parameters
    already present on ``authorization_endpoint`` (e.g. a tenant selector) are preserved (RFC 6749
    §3.1: "MUST retain that component"). Raises :class:`PkceNotSupported` when the server lists
    challenge methods without S256, ``ValueError`` for empty required values.
    """
    ensure_s256_supported(config)
    for name, value in (
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("state", state),
        ("code_challenge", code_challenge),
    ):
        if not value:
            raise ValueError(f"{name} is required")
    if not scopes:
        raise ValueError("at least one scope is required")

    params: list[tuple[str, str]] = [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("scope", format_scopes(scopes)),
        ("state", state),
        ("aud", aud or config.fhir_base_url),
        ("code_challenge", code_challenge),
        ("code_challenge_method", S256),
    ]
    if launch:  # EHR launch only (SMART 2.x "launch" parameter); standalone launches omit it
        params.append(("launch", launch))
    for key, value in (extra_params or {}).items():
        if key in _OWN_PARAMS or key == "launch":
            raise ValueError(f"extra_params must not override {key}")
        params.append((key, value))

    parts = urlsplit(config.authorization_endpoint)
    existing = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k not in _OWN_PARAMS and k != "launch" and k not in (extra_params or {})
    ]
    query = urlencode(existing + params, quote_via=quote)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
