"""FastAPI dependencies: API-key authentication, rate limiting, version resolution."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy import select

from ehrconnect.api.context import AppContext, get_context
from ehrconnect.auth.cache import DEFAULT_TTL_SECONDS, ApiKeyCache, CachedKey
from ehrconnect.errors import APIError
from ehrconnect.kit.crypto import sha256_hex
from ehrconnect.kit.time import utcnow
from ehrconnect.models import ApiKey
from ehrconnect.versions import resolve_version


@dataclass(frozen=True)
class AuthContext:
    """Who is calling: every query of theirs is scoped to (organization_id, environment)."""

    organization_id: str
    environment: str
    api_key_id: str
    api_version: str


async def authenticate(
    request: Request,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    version: Annotated[
        str | None,
        Header(alias="Version", description="API version date, e.g. 2026-04-25; default: the key's pin."),
    ] = None,
) -> AuthContext:
    ctx = get_context(request)
    key = await resolve_api_key(ctx, authorization)
    wait = ctx.rate_limiter.check(key.id)
    if wait is not None:
        raise APIError(
            "throttled", "Too many requests for this API key; slow down.", headers={"Retry-After": str(wait)}
        )
    api_version = resolve_version(version, key.api_version)
    request.scope.setdefault("state", {})["api_version"] = api_version
    return AuthContext(key.organization_id, key.environment, key.id, api_version)


async def resolve_api_key(ctx: AppContext, authorization: str | None) -> CachedKey:
    """The live key an `Authorization: Bearer <key>` header names, or the 401 `APIError` to answer.

    The one authentication rule set, shared by the route dependency and the idempotency
    middleware: missing header -> `missing_api_key`; malformed, unknown or revoked ->
    `invalid_api_key`; past `expires_at` -> `expired_api_key`. No rate limiting here.
    """
    if not authorization:
        raise APIError("missing_api_key", "Send your API key as `Authorization: Bearer <key>`.")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise APIError("invalid_api_key", "The Authorization header must be `Bearer <key>`.")
    key = await _lookup(ctx, sha256_hex(token))
    if key is None or key.revoked:
        raise APIError("invalid_api_key", "The API key is invalid or has been revoked.")
    if key.expires_at is not None and key.expires_at <= utcnow():
        raise APIError("expired_api_key", "The API key has expired; create a new one.")
    return key


async def _lookup(ctx: AppContext, key_hash: str) -> CachedKey | None:
    """The key by hash, from the short-lived cache or the database (see auth/cache.py)."""
    cache = ctx.extras.get("api_key_cache")
    if not isinstance(cache, ApiKeyCache):
        cache = ctx.extras["api_key_cache"] = ApiKeyCache(
            float(ctx.extras.get("api_key_cache_seconds", DEFAULT_TTL_SECONDS))
        )
    cached = cache.get(key_hash)
    if cached is not None:
        return cached
    async with ctx.db.read_session() as session:
        row = (await session.execute(select(ApiKey).where(ApiKey.key_hash == key_hash))).scalar_one_or_none()
    if row is None:
        return None  # misses are not cached: a key minted a moment ago must work at once
    found = CachedKey.of(row)
    cache.put(key_hash, found)
    return found


Auth = Annotated[AuthContext, Depends(authenticate)]
