"""Access tokens for background pulls: refresh before expiry, under a row lock, rotation-safe.

SMART App Launch 2.x "Refresh access token" / RFC 6749 §6. The refresh runs while the
connection row is locked (``SELECT ... FOR UPDATE``; SQLite: the write lock), and the new access
token and any rotated refresh token are stored in that same transaction, so two workers never
spend the same one-time refresh token. ``invalid_grant`` (RFC 6749 §5.2) means the grant is
gone: the connection becomes ``refresh_failed`` and is never synced again. Network errors, 5xx
and 429 are transient. A connection without a refresh token (source without offline access)
uses its access token until it expires and then becomes ``expired``.

Holding the lock across an HTTP call is deliberate (rotation safety); it is bounded by
:data:`REFRESH_DEADLINE_SECONDS`, after which the refresh counts as a transient failure.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ehrconnect.api.context import AppContext
from ehrconnect.connections.registrations import NoClientRegistration, registration_for_connection
from ehrconnect.connections.service import destroy_tokens, stored_smart_configuration
from ehrconnect.kit.time import utcnow
from ehrconnect.models import Connection
from ehrconnect.smart import (
    SmartConfiguration,
    SourceUnavailable,
    TokenRefreshError,
    discover_smart_configuration,
    refresh_access_token,
)

logger = logging.getLogger("ehrconnect.worker.tokens")

#: Per-request timeouts for the token endpoint (and discovery) while the row lock is held.
REFRESH_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
#: Upper bound on one whole refresh (discovery + token call) under the lock.
REFRESH_DEADLINE_SECONDS = 10.0

REFRESH_FAILED_CODE = "token_refresh_failed"
EXPIRED_CODE = "token_expired"


class ConnectionInactive(Exception):
    """The connection is not (or no longer) active: stop syncing it. `status` is the new one."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


class TokenUnavailable(Exception):
    """A transient failure obtaining a token (network, 5xx, 429): retry the sync later."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class _Cached:
    token: str
    refresh_at: datetime | None
    expires_at: datetime | None


def refresh_due_at(expires_at: datetime | None, issued_at: datetime | None, leeway_seconds: float) -> datetime | None:
    """When to refresh: `leeway` before expiry, but never earlier than half the token's life
    (a 60-second token with a 5-minute leeway would otherwise be refreshed before every call)."""
    if expires_at is None:
        return None
    leeway = timedelta(seconds=leeway_seconds)
    if issued_at is not None and expires_at > issued_at:
        leeway = min(leeway, (expires_at - issued_at) / 2)
    return expires_at - leeway


class TokenManager:
    """Hands out a valid access token for one connection, refreshing it when due."""

    def __init__(self, ctx: AppContext, connection_id: str) -> None:
        self.ctx = ctx
        self.connection_id = connection_id
        self._cached: _Cached | None = None
        self.refreshes = 0

    async def access_token(self) -> SecretStr:
        """The current access token (a :data:`ehrconnect.smart.TokenProvider`)."""
        now = utcnow()
        cached = self._cached
        if (
            cached is not None
            and (cached.refresh_at is None or now < cached.refresh_at)
            and (cached.expires_at is None or now < cached.expires_at)
        ):
            return SecretStr(cached.token)
        return SecretStr(await self._obtain(force=False))

    async def on_unauthorized(self) -> None:
        """FHIR said 401: the token was revoked or expired early; refresh once (FhirSession hook)."""
        await self._obtain(force=True, rejected=self._cached.token if self._cached else None)

    async def _obtain(self, *, force: bool, rejected: str | None = None) -> str:
        outcome: str | Exception
        async with self.ctx.db.session() as session:
            outcome = await self._obtain_locked(session, force=force, rejected=rejected)
        # Raised after the transaction committed, so a status change (refresh_failed, expired)
        # is stored even though the sync stops.
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def _obtain_locked(self, session: AsyncSession, *, force: bool, rejected: str | None) -> str | Exception:
        conn = (
            await session.execute(select(Connection).where(Connection.id == self.connection_id).with_for_update())
        ).scalar_one_or_none()
        if conn is None:
            return ConnectionInactive("deleted", "connection deleted")
        if conn.status != "active" or conn.access_token_encrypted is None:
            return ConnectionInactive(conn.status, f"connection is {conn.status}")
        now = utcnow()
        current = self.ctx.cipher.decrypt(conn.access_token_encrypted)
        due = refresh_due_at(conn.token_expires_at, conn.token_issued_at or conn.created_at,
                             self.ctx.settings.token_refresh_leeway_seconds)
        # Another worker may have refreshed already (the token differs from the rejected one).
        fresh = (due is None or now < due) and not (force and current == rejected)
        if fresh:
            return self._remember(current, due, conn.token_expires_at)
        if conn.refresh_token_encrypted is None:
            if force or (conn.token_expires_at is not None and now >= conn.token_expires_at):
                _mark(conn, "expired", EXPIRED_CODE, "access token expired and no refresh token was granted")
                return ConnectionInactive("expired", "access token expired; no refresh token")
            # No offline access: keep using the token for as long as it lives.
            return self._remember(current, None, conn.token_expires_at)
        return await self._refresh(session, conn)

    async def _refresh(self, session: AsyncSession, conn: Connection) -> str | Exception:
        try:
            client = await registration_for_connection(session, self.ctx, conn)
        except NoClientRegistration as exc:
            return TokenUnavailable(f"no client registration: {exc}")
        try:
            # The row lock (SQLite: the database write lock) is held across this call for rotation
            # safety, so the whole exchange is bounded: discovery (when needed) plus the token call.
            async with asyncio.timeout(REFRESH_DEADLINE_SECONDS):
                config = await self._config(conn)
                if isinstance(config, Exception):
                    return config
                tokens = await refresh_access_token(
                    self.ctx.http, config, client.to_smart(config.token_endpoint),
                    refresh_token=SecretStr(self.ctx.cipher.decrypt(conn.refresh_token_encrypted or "")),
                    previous_scopes=list(conn.scopes or []), http_timeout=REFRESH_TIMEOUT,
                )
        except TimeoutError:
            logger.warning("token refresh timed out", extra={"connection_id": conn.id})
            return TokenUnavailable(f"token endpoint did not answer within {REFRESH_DEADLINE_SECONDS:g} s")
        except TokenRefreshError as exc:
            if exc.is_invalid_grant:
                _mark(conn, "refresh_failed", REFRESH_FAILED_CODE, f"refresh rejected: {exc.error}")
                logger.warning("token refresh rejected (invalid_grant)", extra={"connection_id": conn.id})
                return ConnectionInactive("refresh_failed", "refresh token rejected (invalid_grant)")
            return TokenUnavailable(f"token refresh failed: {exc.error}")
        except SourceUnavailable as exc:
            return TokenUnavailable(f"token endpoint unavailable: {exc.message}",
                                    retry_after=getattr(exc, "retry_after", None))
        conn.access_token_encrypted = self.ctx.cipher.encrypt(tokens.access_token.get_secret_value())
        if tokens.refresh_token is not None:
            conn.refresh_token_encrypted = self.ctx.cipher.encrypt(tokens.refresh_token.get_secret_value())
        conn.token_expires_at = tokens.expires_at
        conn.token_issued_at = tokens.issued_at
        if tokens.scope_returned:
            conn.scopes = list(tokens.scopes)
        conn.updated_at = utcnow()
        self.refreshes += 1
        logger.info("access token refreshed", extra={"connection_id": conn.id, "rotated": tokens.refresh_token_rotated})
        due = refresh_due_at(tokens.expires_at, tokens.issued_at, self.ctx.settings.token_refresh_leeway_seconds)
        return self._remember(tokens.access_token.get_secret_value(), due, tokens.expires_at)

    async def _config(self, conn: Connection) -> SmartConfiguration | Exception:
        stored = stored_smart_configuration(conn) if conn.token_endpoint else None
        if stored is not None:
            return stored
        try:
            return await discover_smart_configuration(self.ctx.http, conn.fhir_base_url, http_timeout=REFRESH_TIMEOUT)
        except SourceUnavailable as exc:
            return TokenUnavailable(f"discovery failed: {exc.message}")
        except Exception as exc:  # discovery errors: treat as transient, the source may recover
            return TokenUnavailable(f"discovery failed: {type(exc).__name__}")

    def _remember(self, token: str, refresh_at: datetime | None, expires_at: datetime | None) -> str:
        self._cached = _Cached(token, refresh_at, expires_at)
        return token


def _mark(conn: Connection, status: str, code: str, detail: str) -> None:
    now = utcnow()
    conn.status = status
    conn.failure_code = code
    conn.failure_at = now
    conn.failure_detail = detail
    conn.next_sync_at = None
    conn.updated_at = now
    destroy_tokens(conn)
