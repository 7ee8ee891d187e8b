"""Our OAuth client registrations at FHIR sources: which client id (and secret) to use where.

Registrations live in two places: the ``oauth_clients`` table (managed with
``ehrconnect clients add|list|remove``) and the ``EHRCONNECT_OAUTH_CLIENTS`` setting. Each one
serves either a single catalog source or every source of one vendor type in one environment.

Resolution order for a source (first match wins):

1. the source's explicit ``oauth_client_id`` (a table row id or a settings pseudo id);
2. a table registration for the source, then one for the source's vendor type;
3. a settings registration for the source (by ``fhirsrc_`` id or base URL), then for its type;
4. sandbox sources (type ``sandbox``): the built-in public client ``settings.sandbox_client_id``.

Client secrets are bound to their authorization server (RFC 9700 §4.4 mix-up attacks; RFC 8414
§3.3 issuer binding): a catalog entry's discovery document may name any token endpoint, and vendor
types in public directories are often guessed, so a registration's secret is only sent to the
hosts it lists in ``token_hosts`` (exact hosts or ``.suffix`` entries). A per-source registration
without ``token_hosts`` is pinned to its source's FHIR host; a vendor-wide one with a secret and
no ``token_hosts`` is refused. Public clients (no secret) are unaffected. Every request that
carries client authentication goes through :meth:`ResolvedClient.to_smart`, which enforces this.

Settings-based registrations have stable pseudo ids (``settings:sandbox``, ``settings:epic``,
...) so a connection remembers which registration it was made with (``Connection.oauth_client_id``)
and token refresh/revocation later use the same client.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx
from pydantic import SecretStr
from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ehrconnect.api.context import AppContext
from ehrconnect.catalog.urls import source_key
from ehrconnect.config import OAuthClientSetting, Settings, normalize_token_host
from ehrconnect.kit.crypto import TokenCipher, sha256_hex
from ehrconnect.kit.ids import new_id
from ehrconnect.models import Connection, FhirSource, OAuthClientRegistration
from ehrconnect.smart import ClientAuthMethod, ClientRegistration, SourceUnavailable

SANDBOX_TYPE = "sandbox"
SANDBOX_PSEUDO_ID = "settings:sandbox"
_PSEUDO_PREFIX = "settings:"
_ID_MAX = 40
AUTH_METHODS = ("none", "client_secret_basic", "client_secret_post")


class NoClientRegistration(LookupError):
    """No registration covers this source: it cannot be launched until one is added."""


class ClientSecretNotAllowed(SourceUnavailable):
    """The client secret may not be sent to this endpoint's host (not in the registration's
    ``token_hosts``). A misconfiguration or a hostile catalog entry: the source is unusable with
    this client, so callers treat it like an unavailable source (no grant is marked broken)."""

    def __init__(self, registration_id: str, host: str, allowed: Sequence[str]) -> None:
        hint = ", ".join(allowed) if allowed else "none configured"
        super().__init__(
            f"client secret of registration {registration_id} may not be sent to host {host!r} "
            f"(allowed token hosts: {hint}); add the host to the registration's token_hosts "
            "(ehrconnect clients add --token-host, or token_hosts in EHRCONNECT_OAUTH_CLIENTS)"
        )
        self.registration_id = registration_id
        self.host = host


def host_allowed(host: str, allowed: Sequence[str]) -> bool:
    """True when ``host`` equals an entry or lies under a ``.suffix`` entry (subdomains only)."""
    host = host.lower().removesuffix(".")
    for entry in allowed:
        if entry.startswith("."):
            if host.endswith(entry) and len(host) > len(entry):
                return True
        elif host == entry:
            return True
    return False


def _endpoint_host(url: str) -> str:
    try:
        return httpx.URL(url).host.lower()
    except (httpx.InvalidURL, TypeError):
        return ""


@dataclass
class ResolvedClient:
    """The client credentials to use at one source (secret decrypted, in memory only)."""

    registration_id: str
    client_id: str
    client_secret: str | None
    auth_method: str  # "none" | "client_secret_basic" | "client_secret_post"
    #: Scopes to request; None = the SMART defaults for what the source advertises.
    scopes: list[str] | None
    #: Hosts the secret may be sent to (exact or ``.suffix``); empty = nowhere (public clients only).
    token_hosts: tuple[str, ...] = field(default=())

    def __repr__(self) -> str:  # never print the secret
        return (
            f"ResolvedClient(registration_id={self.registration_id!r}, client_id={self.client_id!r}, "
            f"auth_method={self.auth_method!r}, scopes={self.scopes!r}, token_hosts={self.token_hosts!r})"
        )

    def check_endpoint(self, endpoint_url: str) -> None:
        """Raise :class:`ClientSecretNotAllowed` unless this client may authenticate at the URL."""
        if self.client_secret is None:
            return  # public client: nothing secret is sent (RFC 6749 §2.1)
        host = _endpoint_host(endpoint_url)
        if not host or not host_allowed(host, self.token_hosts):
            raise ClientSecretNotAllowed(self.registration_id, host, self.token_hosts)

    def to_smart(self, endpoint_url: str) -> ClientRegistration:
        """The ``smart`` library's view of this client, for a request to ``endpoint_url`` (the token
        or revocation endpoint). Raises :class:`ClientSecretNotAllowed` when the client has a secret
        and the endpoint's host is not one of its ``token_hosts``."""
        self.check_endpoint(endpoint_url)
        return ClientRegistration(
            client_id=self.client_id,
            client_secret=SecretStr(self.client_secret) if self.client_secret is not None else None,
            auth_method=ClientAuthMethod(self.auth_method),
        )


def _default_method(secret: str | None, method: str | None) -> str:
    if method:
        return method
    # RFC 6749 §2.3.1: Basic is the method every server must support for secret-holding clients.
    return "client_secret_basic" if secret else "none"


def settings_pseudo_id(entry: OAuthClientSetting) -> str:
    """Stable id of a settings registration: ``settings:<vendor or source>`` (hashed if long)."""
    key = entry.vendor_type if entry.vendor_type is not None else (entry.source or "")
    candidate = _PSEUDO_PREFIX + key
    if len(candidate) <= _ID_MAX and " " not in key:
        return candidate
    return _PSEUDO_PREFIX + sha256_hex(key)[: _ID_MAX - len(_PSEUDO_PREFIX)]


def _from_setting(entry: OAuthClientSetting) -> ResolvedClient:
    secret = entry.client_secret.get_secret_value() if entry.client_secret is not None else None
    hosts = list(entry.token_hosts)
    if not hosts and entry.source is not None:
        # A per-source entry given by base URL is pinned to that FHIR host; by `fhirsrc_` id: none.
        host = _endpoint_host(entry.source) if entry.source.lower().startswith(("https://", "http://")) else ""
        hosts = [host] if host else []
    return ResolvedClient(
        registration_id=settings_pseudo_id(entry),
        client_id=entry.client_id,
        client_secret=secret,
        auth_method=_default_method(secret, entry.auth_method),
        scopes=list(entry.scopes) if entry.scopes else None,
        token_hosts=tuple(hosts),
    )


def _from_row(ctx: AppContext, row: OAuthClientRegistration) -> ResolvedClient:
    secret = ctx.cipher.decrypt(row.client_secret_encrypted) if row.client_secret_encrypted else None
    return ResolvedClient(
        registration_id=row.id,
        client_id=row.client_id,
        client_secret=secret,
        auth_method=_default_method(secret, row.auth_method),
        scopes=list(row.scopes) if row.scopes else None,
        token_hosts=tuple(str(h) for h in (row.extra or {}).get("token_hosts") or ()),
    )


def _sandbox_client(settings: Settings) -> ResolvedClient:
    return ResolvedClient(
        registration_id=SANDBOX_PSEUDO_ID,
        client_id=settings.sandbox_client_id,
        client_secret=None,
        auth_method="none",
        scopes=None,
    )


def _setting_matches_source(entry: OAuthClientSetting, source: FhirSource) -> bool:
    if entry.source is None:
        return False
    if entry.source == source.id:
        return True
    # Same identity as the catalog's lookups (catalog.urls.source_key), so a settings entry matches
    # exactly the source `get_source` would find for the same URL.
    key = source_key(entry.source)
    return key is not None and key == source.normalized_base_url


async def registration_by_id(
    session: AsyncSession, ctx: AppContext, registration_id: str
) -> ResolvedClient | None:
    """A registration by its table id or settings pseudo id (None when it no longer exists)."""
    if registration_id == SANDBOX_PSEUDO_ID:
        return _sandbox_client(ctx.settings)
    if registration_id.startswith(_PSEUDO_PREFIX):
        for entry in ctx.settings.oauth_clients:
            if settings_pseudo_id(entry) == registration_id:
                return _from_setting(entry)
        return None
    row = await session.get(OAuthClientRegistration, registration_id)
    return _from_row(ctx, row) if row is not None else None


async def registration_for_source(session: AsyncSession, ctx: AppContext, source: FhirSource) -> ResolvedClient:
    """The client to launch ``source`` with (see the module docstring for the order).

    Raises :class:`NoClientRegistration` when nothing covers the source.
    """
    if source.oauth_client_id:
        explicit = await registration_by_id(session, ctx, source.oauth_client_id)
        if explicit is not None:
            return explicit
    conditions = [OAuthClientRegistration.source_id == source.id]
    if source.type:
        conditions.append(OAuthClientRegistration.vendor_type == source.type)
    rows = (
        await session.execute(
            select(OAuthClientRegistration).where(
                OAuthClientRegistration.environment == source.environment, or_(*conditions)
            )
        )
    ).scalars().all()
    if rows:  # a source-specific registration beats the vendor-wide one
        return _from_row(ctx, min(rows, key=lambda r: r.source_id is None))
    entries = ctx.settings.oauth_clients
    for entry in entries:
        if _setting_matches_source(entry, source):
            return _from_setting(entry)
    for entry in entries:
        if entry.vendor_type is not None and entry.vendor_type == source.type:
            return _from_setting(entry)
    if source.type == SANDBOX_TYPE:
        return _sandbox_client(ctx.settings)
    raise NoClientRegistration(f"no OAuth client registration for source {source.id}")


_CACHE_TTL_SECONDS = 30.0
_cache: dict[tuple[str, str, str | None, str | None], tuple[float, ResolvedClient]] = {}


async def cached_registration_for_source(
    session: AsyncSession, ctx: AppContext, source: FhirSource
) -> ResolvedClient:
    """:func:`registration_for_source` behind a short in-process cache (the launch hot path).

    Changes made in this process (CLI helpers, tests) invalidate it at once; changes made by
    another process are seen within 30 seconds.
    """
    key = (source.environment, source.id, source.type, source.oauth_client_id)
    now = time.monotonic()
    hit = _cache.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    client = await registration_for_source(session, ctx, source)
    if len(_cache) > 10_000:
        _cache.clear()
    _cache[key] = (now + _CACHE_TTL_SECONDS, client)
    return client


def invalidate_cache() -> None:
    """Forget cached resolutions (after a registration was added or removed)."""
    _cache.clear()


async def registration_for_connection(
    session: AsyncSession, ctx: AppContext, connection: Connection
) -> ResolvedClient:
    """The client a connection was made with (refresh and revocation must use the same one).

    Falls back to resolving by the connection's source when the recorded registration is gone.
    """
    if connection.oauth_client_id:
        found = await registration_by_id(session, ctx, connection.oauth_client_id)
        if found is not None:
            return found
    source = await session.get(FhirSource, connection.source_id)
    if source is None:
        raise NoClientRegistration(f"source {connection.source_id} no longer exists")
    return await registration_for_source(session, ctx, source)


# --- management (CLI and tests) -------------------------------------------------------------


async def add_registration(
    session: AsyncSession,
    cipher: TokenCipher,
    *,
    environment: str,
    client_id: str,
    source_id: str | None = None,
    vendor_type: str | None = None,
    client_secret: str | None = None,
    auth_method: str | None = None,
    scopes: Sequence[str] | None = None,
    token_hosts: Sequence[str] | None = None,
) -> OAuthClientRegistration:
    """Create or replace the registration for one source or one vendor type in ``environment``.

    The secret is stored encrypted with ``cipher`` (the platform's token cipher). ``token_hosts``
    (exact hosts or ``.suffix`` entries) are where the secret may be sent; a per-source
    registration without them is pinned to the source's FHIR host, recorded now. A vendor-wide
    registration with a secret must list them.
    """
    hosts = [normalize_token_host(h) for h in token_hosts or ()]
    if (source_id is None) == (vendor_type is None):
        raise ValueError("give exactly one of source_id or vendor_type")
    method = _default_method(client_secret, auth_method)
    if method not in AUTH_METHODS:
        raise ValueError(f"auth_method must be one of {', '.join(AUTH_METHODS)}")
    if method != "none" and not client_secret:
        raise ValueError(f"{method} needs a client secret")
    if vendor_type is not None and client_secret and not hosts:
        raise ValueError("a vendor-wide registration with a client secret needs --token-host (where its "
                         "authorization server lives)")
    if source_id is not None:
        source = await session.get(FhirSource, source_id)
        if source is None or source.environment != environment:
            raise ValueError(f"unknown source {source_id} in environment {environment}")
        if not hosts:
            hosts = [_endpoint_host(source.fhir_base_url)]
    target = (
        OAuthClientRegistration.source_id == source_id
        if source_id is not None
        else OAuthClientRegistration.vendor_type == vendor_type
    )
    await session.execute(
        delete(OAuthClientRegistration).where(OAuthClientRegistration.environment == environment, target)
    )
    row = OAuthClientRegistration(
        id=new_id("oauth_client"),
        environment=environment,
        source_id=source_id,
        vendor_type=vendor_type,
        client_id=client_id,
        client_secret_encrypted=cipher.encrypt(client_secret) if client_secret else None,
        auth_method=method,
        scopes=list(scopes) if scopes else None,
        extra={"token_hosts": hosts},
    )
    session.add(row)
    await session.flush()
    invalidate_cache()
    return row


async def list_registrations(
    session: AsyncSession, environment: str | None = None
) -> Sequence[OAuthClientRegistration]:
    """Table registrations, optionally for one environment, oldest first."""
    query = select(OAuthClientRegistration).order_by(OAuthClientRegistration.id)
    if environment is not None:
        query = query.where(OAuthClientRegistration.environment == environment)
    return (await session.execute(query)).scalars().all()


async def remove_registration(session: AsyncSession, registration_id: str) -> bool:
    """Delete one table registration; False when it did not exist."""
    row = await session.get(OAuthClientRegistration, registration_id)
    if row is None:
        return False
    await session.delete(row)
    await session.flush()
    invalidate_cache()
    return True
