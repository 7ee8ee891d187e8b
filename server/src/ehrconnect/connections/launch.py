"""The SMART standalone launch behind the hosted flow: start a launch, finish it at the callback.

Protocol: SMART App Launch 2.x standalone launch with PKCE S256 (RFC 7636) and the
authorization code grant (RFC 6749 §4.1). ``state`` (RFC 6749 §10.12) is single-use, expires
after ``settings.oauth_state_ttl_seconds`` (10 minutes) and is bound to the launching session and
to the browser through an HttpOnly cookie whose hash is stored with the state.

Transactions never span network calls (SQLite write transactions are ``BEGIN IMMEDIATE``): the
state is consumed and committed first (so a concurrent replay loses the conditional UPDATE), the
code is exchanged, then the outcome is recorded in a second transaction together with the sync job.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from ulid import ULID

from ehrconnect.api.context import AppContext
from ehrconnect.connections.registrations import (
    ClientSecretNotAllowed,
    NoClientRegistration,
    ResolvedClient,
    cached_registration_for_source,
    registration_by_id,
    registration_for_source,
)
from ehrconnect.connections.smart_cache import discovery_cache
from ehrconnect.kit.crypto import constant_time_equal, sha256_hex
from ehrconnect.kit.ids import new_id
from ehrconnect.kit.time import as_utc, utcnow
from ehrconnect.models import Connection, ConnectSession, FhirSource, OAuthState
from ehrconnect.sessions.service import expire_if_due
from ehrconnect.smart import (
    SmartConfiguration,
    SmartDiscoveryError,
    SmartError,
    SourceUnavailable,
    TokenExchangeError,
    build_authorize_url,
    create_pkce_pair,
    default_scopes,
    exchange_authorization_code,
    generate_state,
)
from ehrconnect.worker.queue import enqueue_sync

logger = logging.getLogger("ehrconnect.connections")

#: Failure codes (api-decisions.md "The return to the app").
USER_DENIED = "user_denied"
CALLBACK_FAILED = "oauth_callback_failed"
EXCHANGE_FAILED = "token_exchange_failed"
SOURCE_UNAVAILABLE = "source_unavailable"
SESSION_EXPIRED = "session_expired"

#: Human descriptions for the return URL's ``error_description`` (never upstream text).
FAILURE_DESCRIPTIONS = {
    USER_DENIED: "The patient declined to share their records.",
    CALLBACK_FAILED: "The sign-in could not be completed. Please try again.",
    EXCHANGE_FAILED: "The health system did not issue access. Please try again.",
    SOURCE_UNAVAILABLE: "The health system is not reachable right now. Please try again later.",
    SESSION_EXPIRED: "This connection link has expired.",
}


@dataclass(frozen=True)
class LaunchPlan:
    """What a launch needs, read inside the page's transaction."""

    session_id: str
    source: FhirSource
    client: ResolvedClient


@dataclass(frozen=True)
class CallbackResult:
    """Outcome of one callback request.

    ``kind``: ``unknown_state`` (no such state: tampered or missing; no session known),
    ``replay`` (state already used), ``session_closed`` (session expired or complete before the
    callback), ``failed`` (attempt recorded as failed) or ``connected``.
    """

    kind: str
    session: ConnectSession | None = None
    connection: Connection | None = None
    failure_code: str | None = None

    @property
    def error_code(self) -> str:
        """The code for the return URL when this is not a success."""
        if self.failure_code:
            return self.failure_code
        if self.kind == "session_closed" and self.session is not None and self.session.status == "expired":
            return SESSION_EXPIRED
        return CALLBACK_FAILED


# --- starting a launch -------------------------------------------------------------------------


async def plan_launch(session: AsyncSession, ctx: AppContext, cs: ConnectSession, source: FhirSource) -> LaunchPlan:
    """Resolve the client registration for ``source``. Raises :class:`NoClientRegistration`."""
    client = await cached_registration_for_source(session, ctx, source)
    return LaunchPlan(session_id=cs.id, source=source, client=client)


def cached_configuration(ctx: AppContext, source: FhirSource) -> SmartConfiguration | None:
    """The warm discovery document, without any network call (the direct-mode hot path)."""
    try:
        return discovery_cache(ctx).peek(source.fhir_base_url)
    except ValueError:
        return None


async def fetch_configuration(ctx: AppContext, source: FhirSource) -> SmartConfiguration:
    """Discovery through the shared cache; raises :class:`SmartError` when the source is down."""
    try:
        return await discovery_cache(ctx).get(source.fhir_base_url)
    except ValueError as exc:  # an unusable base URL in the catalog
        raise SmartDiscoveryError("invalid FHIR base URL") from exc


async def begin_launch(
    session: AsyncSession, ctx: AppContext, plan: LaunchPlan, config: SmartConfiguration, browser_key: str
) -> str:
    """Store a fresh single-use state (+ PKCE verifier) and return the authorize URL.

    Raises :class:`SmartError` (e.g. :class:`PkceNotSupported`) when the source cannot be launched,
    including :class:`ClientSecretNotAllowed` when our client secret may not go to the advertised
    token endpoint: refused before the patient is sent to sign in for nothing.
    """
    plan.client.check_endpoint(config.token_endpoint)
    state = generate_state()
    pkce = create_pkce_pair()
    scopes = plan.client.scopes or default_scopes(config)
    redirect_uri = ctx.settings.oauth_redirect_uri
    url = build_authorize_url(
        config,
        client_id=plan.client.client_id,
        redirect_uri=redirect_uri,
        scopes=scopes,
        state=state,
        code_challenge=pkce.challenge,
    )
    now = utcnow()
    session.add(
        OAuthState(
            id=f"ost_{ULID()}",
            state_hash=sha256_hex(state),
            session_id=plan.session_id,
            source_id=plan.source.id,
            browser_hash=sha256_hex(browser_key),
            code_verifier_encrypted=ctx.cipher.encrypt(pkce.verifier),
            redirect_uri=redirect_uri,
            requested_scopes=list(scopes),
            oauth_client_id=plan.client.registration_id,
            created_at=now,
            expires_at=now + timedelta(seconds=ctx.settings.oauth_state_ttl_seconds),
        )
    )
    return url


async def record_failure(
    session: AsyncSession,
    cs: ConnectSession,
    source: FhirSource,
    code: str,
    *,
    detail: str | None = None,
    oauth_client_id: str | None = None,
) -> Connection:
    """A failed attempt (no tokens). Direct Mode: the flow is over, the session is complete."""
    now = utcnow()
    row = _new_connection(
        cs, source, status="failed", oauth_client_id=oauth_client_id, now=now,
        scopes=[], failure_code=code, failure_at=now, failure_detail=(detail or "")[:500] or None,
    )
    session.add(row)
    if cs.mode == "direct":
        complete_session(cs)
    await session.flush()
    return row


def _new_connection(
    cs: ConnectSession, source: FhirSource, *, status: str, oauth_client_id: str | None, now: datetime,
    fhir_base_url: str | None = None, **fields: Any,
) -> Connection:
    """One attempt row (active or failed): tenant, patient, session and source from the session.

    ``fhir_base_url``: the base the tokens were obtained for, when it may differ from the
    source's current spelling (default: the source's)."""
    return Connection(
        id=new_id("connection"),
        organization_id=cs.organization_id,
        environment=cs.environment,
        patient_pk=cs.patient_pk,
        session_id=cs.id,
        source_id=source.id,
        fhir_base_url=fhir_base_url or source.fhir_base_url,
        status=status,
        oauth_client_id=oauth_client_id,
        created_at=now,
        updated_at=now,
        **fields,
    )


def complete_session(cs: ConnectSession) -> None:
    """Open -> complete (idempotent; expired and complete sessions stay as they are)."""
    if cs.status == "open":
        now = utcnow()
        cs.status = "complete"
        cs.completed_at = now
        cs.updated_at = now


#: Finished or abandoned launch states are kept this long (replays within it get "already used").
STATE_RETENTION = timedelta(days=1)


async def purge_stale_states(session: AsyncSession) -> None:
    """Delete launch states that expired more than :data:`STATE_RETENTION` ago."""
    await session.execute(
        delete(OAuthState)
        .where(OAuthState.expires_at < utcnow() - STATE_RETENTION)
        .execution_options(synchronize_session=False)
    )


# --- the callback ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pending:
    state_id: str
    session_id: str
    source_id: str
    code: str
    code_verifier: str
    redirect_uri: str
    requested_scopes: list[str]
    registration_id: str | None


async def handle_callback(ctx: AppContext, params: Mapping[str, str], browser_key: str | None) -> CallbackResult:
    """Finish a launch from the redirect's query parameters (RFC 6749 §4.1.2)."""
    state = params.get("state") or ""
    if not state or len(state) > 512:
        return CallbackResult("unknown_state")
    async with ctx.db.session() as session:
        row = (
            await session.execute(select(OAuthState).where(OAuthState.state_hash == sha256_hex(state)))
        ).scalar_one_or_none()
        if row is None:
            return CallbackResult("unknown_state")
        cs = await session.get(ConnectSession, row.session_id)
        source = await session.get(FhirSource, row.source_id)
        if cs is None or source is None:
            return CallbackResult("unknown_state")
        # Single use: only the request whose UPDATE matches `used_at IS NULL` proceeds.
        consumed = await session.execute(
            update(OAuthState)
            .where(OAuthState.id == row.id, OAuthState.used_at.is_(None))
            .values(used_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if getattr(consumed, "rowcount", 0) != 1:
            return CallbackResult("replay", session=cs)
        expire_if_due(cs)
        if cs.status != "open":
            return CallbackResult("session_closed", session=cs)
        failure = _early_failure(row, params, browser_key)
        if failure is not None:
            code, detail = failure
            conn = await record_failure(session, cs, source, code, detail=detail, oauth_client_id=row.oauth_client_id)
            return CallbackResult("failed", session=cs, connection=conn, failure_code=code)
        pending = _Pending(
            state_id=row.id,
            session_id=cs.id,
            source_id=source.id,
            code=params["code"],
            code_verifier=ctx.cipher.decrypt(row.code_verifier_encrypted),
            redirect_uri=row.redirect_uri,
            requested_scopes=list(row.requested_scopes or []),
            registration_id=row.oauth_client_id,
        )
        client = await registration_by_id(session, ctx, pending.registration_id) if pending.registration_id else None
        if client is None:
            try:
                client = await registration_for_source(session, ctx, source)
            except NoClientRegistration:
                client = None
        fhir_base_url = source.fhir_base_url
    return await _exchange_and_record(ctx, pending, client, fhir_base_url)


def _early_failure(
    row: OAuthState, params: Mapping[str, str], browser_key: str | None
) -> tuple[str, str] | None:
    """Checks before any network call: browser binding, expiry, the EHR's error, the code."""
    if not browser_key or not constant_time_equal(sha256_hex(browser_key), row.browser_hash):
        return CALLBACK_FAILED, "state was issued to another browser"
    if as_utc(row.expires_at) <= utcnow():
        return CALLBACK_FAILED, "state expired"
    error = params.get("error")
    if error:
        # RFC 6749 §4.1.2.1: access_denied = the resource owner refused.
        code = USER_DENIED if error == "access_denied" else CALLBACK_FAILED
        return code, f"authorization error: {error[:64]}"
    if not params.get("code"):
        return CALLBACK_FAILED, "no authorization code"
    return None


async def _exchange_and_record(
    ctx: AppContext, pending: _Pending, client: ResolvedClient | None, fhir_base_url: str
) -> CallbackResult:
    failure: tuple[str, str] | None = None
    tokens = None
    config = None
    if client is None:
        failure = (EXCHANGE_FAILED, "no client registration")
    else:
        try:
            config = await discovery_cache(ctx).get(fhir_base_url)
            tokens = await exchange_authorization_code(
                ctx.http,
                config,
                client.to_smart(config.token_endpoint),
                code=pending.code,
                redirect_uri=pending.redirect_uri,
                code_verifier=pending.code_verifier,
                requested_scopes=pending.requested_scopes,
            )
        except TokenExchangeError as exc:
            failure = (EXCHANGE_FAILED, f"token exchange: {exc.error}")
        except ClientSecretNotAllowed as exc:  # the endpoint changed since the launch began
            logger.warning("code exchange refused: %s", exc.message)
            failure = (SOURCE_UNAVAILABLE, exc.message)
        except (SourceUnavailable, SmartDiscoveryError) as exc:
            failure = (SOURCE_UNAVAILABLE, type(exc).__name__)
        except SmartError as exc:
            failure = (EXCHANGE_FAILED, type(exc).__name__)
    async with ctx.db.session() as session:
        cs = await session.get(ConnectSession, pending.session_id)
        source = await session.get(FhirSource, pending.source_id)
        if cs is None or source is None:  # deleted meanwhile (patient deleted)
            return CallbackResult("unknown_state")
        await purge_stale_states(session)
        if failure is not None or tokens is None or config is None or client is None:
            code, detail = failure or (EXCHANGE_FAILED, "no tokens")
            conn = await record_failure(
                session, cs, source, code, detail=detail, oauth_client_id=client.registration_id if client else None
            )
            return CallbackResult("failed", session=cs, connection=conn, failure_code=code)
        conn = _new_connection(
            cs, source, status="active", oauth_client_id=client.registration_id, now=utcnow(),
            fhir_base_url=fhir_base_url, scopes=list(tokens.scopes),
            fhir_patient_id=tokens.patient,
            access_token_encrypted=ctx.cipher.encrypt(tokens.access_token.get_secret_value()),
            refresh_token_encrypted=(
                ctx.cipher.encrypt(tokens.refresh_token.get_secret_value()) if tokens.refresh_token else None
            ),
            token_expires_at=tokens.expires_at,
            token_issued_at=tokens.issued_at,
            token_endpoint=config.token_endpoint,
            revocation_endpoint=config.revocation_endpoint,
            sync_status="pending",
        )
        session.add(conn)
        if cs.mode == "direct":
            complete_session(cs)
        await session.flush()
        # Same transaction: the pull job exists iff the active connection committed.
        await enqueue_sync(session, conn.id)
        logger.info("connection active", extra={"connection_id": conn.id, "session_id": cs.id})
        return CallbackResult("connected", session=cs, connection=conn)
