"""The hosted Connect flow: the page behind a session's `url`, the launch, the callback, Done.

Routes (all HTML, outside the JSON API):

- ``GET /c/{token}``: Direct Mode -> 302 to the source's authorize endpoint. Picker Mode -> the
  picker (no attempt yet) or the completion page (after an attempt).
- ``GET /c/{token}/sources?q=&after=``: the picker with a server-rendered search (no JS needed).
- ``GET /c/{token}/sources.json?q=``: the same search for the progressive live-search script.
- ``GET /c/{token}/connect/{source_id}``: start a launch at one source (a GET link, so the
  form-action CSP never has to list EHR origins).
- ``POST /c/{token}/done``: CSRF-checked; completes the session and 303s to ``return_url``.
- ``GET /oauth/callback``: the SMART redirect URI.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ehrconnect.api.context import AppContext, get_context
from ehrconnect.catalog.search import search_sources
from ehrconnect.connections import launch
from ehrconnect.connections.registrations import ClientSecretNotAllowed, NoClientRegistration
from ehrconnect.hosted import returns
from ehrconnect.hosted.pages import (
    browser_key,
    csrf_ok,
    csrf_token,
    ensure_browser_key,
    form_origins_of,
    message_page,
    render,
    set_browser_cookie,
)
from ehrconnect.hosted.views import SourceCard, attempt_view, source_card
from ehrconnect.kit.crypto import sha256_hex
from ehrconnect.kit.pagination import InvalidCursor
from ehrconnect.models import Connection, ConnectSession, FhirSource, Patient
from ehrconnect.sessions.service import expire_if_due
from ehrconnect.smart import SmartError

router = APIRouter(include_in_schema=False)
logger = logging.getLogger("ehrconnect.hosted")

PAGE_SIZE = 20
_TOKEN_LEN = 32


def _base(ctx: AppContext, token: str) -> str:
    return f"{ctx.settings.public_url}/c/{token}"


async def _load(session: AsyncSession, token: str) -> ConnectSession | None:
    if len(token) != _TOKEN_LEN:
        return None
    row = (
        await session.execute(select(ConnectSession).where(ConnectSession.url_token_hash == sha256_hex(token)))
    ).scalar_one_or_none()
    if row is not None:
        expire_if_due(row)
    return row


async def _load_with_source(session: AsyncSession, token: str) -> tuple[ConnectSession, FhirSource | None] | None:
    """The session and (Direct Mode) its source in one round trip."""
    if len(token) != _TOKEN_LEN:
        return None
    row = (
        await session.execute(
            select(ConnectSession, FhirSource)
            .outerjoin(FhirSource, FhirSource.id == ConnectSession.source_id)
            .where(ConnectSession.url_token_hash == sha256_hex(token))
        )
    ).one_or_none()
    if row is None:
        return None
    cs, source = row
    expire_if_due(cs)
    return cs, source


async def _patient_id(session: AsyncSession, cs: ConnectSession) -> str:
    patient = await session.get(Patient, cs.patient_pk)
    return patient.patient_id if patient else ""


def _not_found(request: Request) -> Response:
    return message_page(
        request, 404, "Link not found",
        "This connection link isn't valid. Please go back to the app that sent you and start again.",
    )


def _closed_page(request: Request, cs: ConnectSession, patient_id: str) -> Response:
    label = cs.return_button_label or "the app"
    if cs.status == "expired":
        return message_page(
            request, 410, "This link has expired",
            f"For your security, connection links only work for a limited time. Go back to {label} "
            "to get a new one.",
        )
    return message_page(
        request, 200, "You're all set",
        "You've already finished connecting your health records with this link.",
        link=(returns.picker_done(cs.return_url, cs.id, patient_id), f"Return to {label}"),
    )


# --- the session page --------------------------------------------------------------------------


@router.get("/c/{token}")
async def session_page(request: Request, token: str) -> Response:
    """Direct Mode: straight to the EHR. Picker Mode: the picker or the completion page."""
    ctx = get_context(request)
    async with ctx.db.session() as session:
        found = await _load_with_source(session, token)
        if found is None:
            return _not_found(request)
        cs, source = found
        if cs.mode == "direct" and cs.status == "expired":
            # Direct Mode shows no UI of ours: the app hears about the expiry on its return URL.
            target = returns.direct_failure(
                cs.return_url, cs.id, await _patient_id(session, cs), launch.SESSION_EXPIRED
            )
            return RedirectResponse(target, status_code=302)
        if cs.status != "open":
            return _closed_page(request, cs, await _patient_id(session, cs))
        if cs.mode == "direct" and source is not None:
            # Hot path: one query so far; the launch reuses the loaded rows in this transaction.
            key, new_cookie = ensure_browser_key(request)
            attempt = await _try_launch(session, ctx, cs, source, key)
        else:
            if await _has_attempts(session, cs):
                return await _status_page(request, ctx, session, cs, token)
            return await _picker_page(request, ctx, session, cs, token, q="", after=None, has_attempts=False)
    return await _finish_launch(request, ctx, token, key, new_cookie, attempt)


@router.get("/c/{token}/sources")
async def picker(request: Request, token: str, q: str = "", after: str | None = None) -> Response:
    """The source picker with a server-rendered search (works without JavaScript)."""
    ctx = get_context(request)
    async with ctx.db.session() as session:
        cs = await _load(session, token)
        if cs is None:
            return _not_found(request)
        if cs.status != "open":
            return _closed_page(request, cs, await _patient_id(session, cs))
        if cs.mode == "direct":
            return RedirectResponse(_base(ctx, token), status_code=303)
        return await _picker_page(request, ctx, session, cs, token, q=q[:200], after=after)


@router.get("/c/{token}/sources.json")
async def picker_search(request: Request, token: str, q: str = "") -> Response:
    """Live search results for the picker script (same ranking as the server-rendered page)."""
    ctx = get_context(request)
    async with ctx.db.session() as session:
        cs = await _load(session, token)
        if cs is None or cs.status != "open" or cs.mode != "picker":
            return JSONResponse({"results": [], "more_href": None}, status_code=404)
        cards, more = await _search(session, ctx, cs, token, q[:200], None)
    return JSONResponse({"results": [c.as_json() for c in cards], "more_href": more})


async def _search(
    session: AsyncSession, ctx: AppContext, cs: ConnectSession, token: str, q: str, after: str | None
) -> tuple[list[SourceCard], str | None]:
    """Recommended sources first (on the first page), then catalog search hits."""
    base = _base(ctx, token)
    recommended_ids = list(cs.recommended_source_ids or [])
    cards: list[SourceCard] = []
    needle = q.strip().lower()
    if after is None and recommended_ids:
        rows = (await session.execute(select(FhirSource).where(FhirSource.id.in_(recommended_ids)))).scalars()
        by_id = {r.id: r for r in rows if not r.disabled}
        for sid in recommended_ids:
            src = by_id.get(sid)
            if src is not None and (not needle or needle in src.search_text.lower() or needle in src.name.lower()):
                cards.append(source_card(src, f"{base}/connect/{src.id}", recommended=True))
    try:
        page = await search_sources(
            session, environment=cs.environment, q=needle or None, type_=None, limit=PAGE_SIZE,
            starting_after=after,
        )
    except InvalidCursor:
        page = await search_sources(
            session, environment=cs.environment, q=needle or None, type_=None, limit=PAGE_SIZE, starting_after=None
        )
    shown = {c.id for c in cards}
    for hit in page.hits:
        if hit.source.id not in shown:
            cards.append(source_card(hit.source, f"{base}/connect/{hit.source.id}", matched_name=hit.matched_name))
    more = None
    if page.has_more and page.next_cursor:
        more = f"{base}/sources?{urlencode({'q': q, 'after': page.next_cursor})}"
    return cards, more


async def _has_attempts(session: AsyncSession, cs: ConnectSession) -> bool:
    """Whether any launch was attempted in this session (any status)."""
    found = await session.execute(select(Connection.id).where(Connection.session_id == cs.id).limit(1))
    return found.first() is not None


def _session_page(
    request: Request, ctx: AppContext, cs: ConnectSession, template: str, context: dict[str, object]
) -> Response:
    """Render a page whose Done form returns to the app: CSRF token bound to the browser cookie
    (set here when new) and the return origin allowed in ``form-action``."""
    key, new = ensure_browser_key(request)
    response = render(
        request,
        template,
        {
            **context,
            "return_label": cs.return_button_label or "the app",
            "csrf": csrf_token(ctx, "done", cs.id, key),
        },
        form_origins=form_origins_of(cs.return_url),
    )
    if new:
        set_browser_cookie(response, ctx, key)
    return response


async def _picker_page(
    request: Request, ctx: AppContext, session: AsyncSession, cs: ConnectSession, token: str,
    *, q: str, after: str | None, has_attempts: bool | None = None,
) -> Response:
    """The picker; ``has_attempts`` when the caller already knows it (saves a query)."""
    cards, more = await _search(session, ctx, cs, token, q, after)
    if has_attempts is None:
        has_attempts = await _has_attempts(session, cs)
    return _session_page(request, ctx, cs, "picker.html", {
        "title": "Connect your health records",
        "base": _base(ctx, token),
        "q": q,
        "cards": cards,
        "more_href": more,
        "has_attempts": has_attempts,
    })


async def _status_page(
    request: Request, ctx: AppContext, session: AsyncSession, cs: ConnectSession, token: str
) -> Response:
    base = _base(ctx, token)
    attempts = (
        await session.execute(select(Connection).where(Connection.session_id == cs.id).order_by(Connection.id))
    ).scalars().all()
    sources = {
        s.id: s
        for s in (
            await session.execute(select(FhirSource).where(FhirSource.id.in_({a.source_id for a in attempts})))
        ).scalars()
    }
    # Per source: a live connection if there is one (a later failed retry doesn't undo it), else
    # the latest attempt.
    latest: dict[str, Connection] = {}
    for attempt in attempts:
        current = latest.get(attempt.source_id)
        if current is None or current.status != "active" or attempt.status == "active":
            latest[attempt.source_id] = attempt
    views = [attempt_view(c, sources.get(c.source_id), f"{base}/connect/{c.source_id}") for c in latest.values()]
    return _session_page(request, ctx, cs, "status.html", {
        "title": "Your connected health records",
        "base": base,
        "attempts": views,
        "any_connected": any(v.ok for v in views),
    })


# --- launching ---------------------------------------------------------------------------------


@router.get("/c/{token}/connect/{source_id}")
async def connect(request: Request, token: str, source_id: str) -> Response:
    """Picker Mode: start the SMART launch at the picked source."""
    ctx = get_context(request)
    return await _launch(request, ctx, token, source_id)


@dataclass
class _Attempt:
    """A launch tried inside the page's transaction: the authorize URL, or why not (yet)."""

    source_id: str
    plan: launch.LaunchPlan | None = None
    url: str | None = None
    failure: str | None = None
    #: Server-side reason recorded with the failed attempt (never shown to the patient).
    detail: str | None = None

    def refused(self, exc: SmartError) -> None:
        """The launch cannot start: a misconfigured client is explained server-side."""
        self.failure = launch.SOURCE_UNAVAILABLE
        if isinstance(exc, ClientSecretNotAllowed):
            logger.warning("launch refused: %s", exc.message)
            self.detail = exc.message


async def _try_launch(
    session: AsyncSession, ctx: AppContext, cs: ConnectSession, source: FhirSource, key: str
) -> _Attempt:
    """With warm discovery: the whole launch, no network call. Cold: the plan only."""
    attempt = _Attempt(source_id=source.id)
    if source.disabled:
        attempt.failure = launch.SOURCE_UNAVAILABLE
        return attempt
    try:
        attempt.plan = await launch.plan_launch(session, ctx, cs, source)
    except NoClientRegistration:
        attempt.failure = launch.SOURCE_UNAVAILABLE
        return attempt
    config = launch.cached_configuration(ctx, source)
    if config is not None:
        try:
            attempt.url = await launch.begin_launch(session, ctx, attempt.plan, config, key)
        except SmartError as exc:
            attempt.refused(exc)
    return attempt


async def _finish_launch(
    request: Request, ctx: AppContext, token: str, key: str, new_cookie: bool, attempt: _Attempt
) -> Response:
    """After the transaction: fetch cold discovery if needed, then redirect (or record failure)."""
    if attempt.url is None and attempt.failure is None and attempt.plan is not None:
        # Cold cache (rare: warmed at startup and at direct-session creation): fetch, then store.
        try:
            config = await launch.fetch_configuration(ctx, attempt.plan.source)
            async with ctx.db.session() as session:
                cs = await _load(session, token)
                if cs is None:
                    return _not_found(request)
                if cs.status != "open":
                    return _closed_page(request, cs, await _patient_id(session, cs))
                attempt.url = await launch.begin_launch(session, ctx, attempt.plan, config, key)
        except SmartError as exc:
            attempt.refused(exc)
    if attempt.url is None:
        return await _launch_failed(
            request, ctx, token, attempt.source_id, attempt.failure or launch.SOURCE_UNAVAILABLE,
            detail=attempt.detail,
        )
    response = RedirectResponse(attempt.url, status_code=302)
    if new_cookie:
        set_browser_cookie(response, ctx, key)
    return response


async def _launch(request: Request, ctx: AppContext, token: str, source_id: str) -> Response:
    """Start a launch at ``source_id`` for the session behind ``token``."""
    key, new_cookie = ensure_browser_key(request)
    async with ctx.db.session() as session:
        cs = await _load(session, token)
        if cs is None:
            return _not_found(request)
        if cs.status != "open":
            return _closed_page(request, cs, await _patient_id(session, cs))
        source = await session.get(FhirSource, source_id)
        if (
            source is None
            or source.environment != cs.environment
            or (cs.mode == "direct" and source.id != cs.source_id)
        ):
            return _not_found(request)
        attempt = await _try_launch(session, ctx, cs, source, key)
    return await _finish_launch(request, ctx, token, key, new_cookie, attempt)


async def _launch_failed(
    request: Request, ctx: AppContext, token: str, source_id: str, code: str, *, detail: str | None = None
) -> Response:
    """Record the failed attempt; Direct Mode returns to the app, Picker Mode shows the status."""
    async with ctx.db.session() as session:
        cs = await _load(session, token)
        source = await session.get(FhirSource, source_id)
        if cs is None or source is None:
            return _not_found(request)
        if cs.status != "open":
            return _closed_page(request, cs, await _patient_id(session, cs))
        await launch.record_failure(session, cs, source, code, detail=detail or "launch could not start")
        if cs.mode == "direct":
            target = returns.direct_failure(cs.return_url, cs.id, await _patient_id(session, cs), code)
            return RedirectResponse(target, status_code=302)
    return RedirectResponse(_base(ctx, token), status_code=303)


# --- the callback ------------------------------------------------------------------------------


@router.get("/oauth/callback")
async def oauth_callback(request: Request) -> Response:
    """SMART redirect URI: finish the launch, then back to the picker or to the app."""
    ctx = get_context(request)
    params = {k: v for k, v in request.query_params.items() if k in ("state", "code", "error")}
    result = await launch.handle_callback(ctx, params, browser_key(request))
    cs = result.session
    if cs is None:
        return message_page(
            request, 400, "This sign-in link isn't valid",
            "We couldn't match this sign-in to a connection request. Please go back to the app that sent "
            "you and start again.",
        )
    async with ctx.db.session() as session:
        patient_id = await _patient_id(session, cs)
    token = ctx.cipher.decrypt(cs.url_token_encrypted)
    if cs.mode == "direct":
        ok = result.kind == "connected" and result.connection is not None
        if ok and result.connection is not None:
            target = returns.direct_success(cs.return_url, cs.id, patient_id, result.connection.source_id)
        else:
            target = returns.direct_failure(cs.return_url, cs.id, patient_id, result.error_code)
        return _returning(request, cs, target, "You're connected" if ok else "We couldn't connect")
    if result.kind == "replay":
        return message_page(
            request, 400, "This sign-in was already used",
            "This sign-in has already been processed, so it can't be used again.",
            link=(_base(ctx, token), "See your connections"),
        )
    if result.kind == "session_closed":
        return _closed_page(request, cs, patient_id)
    return RedirectResponse(_base(ctx, token), status_code=303)


def _returning(request: Request, cs: ConnectSession, target: str, heading: str) -> Response:
    """Direct Mode's way back to the app from the callback: a page that navigates on at once.

    Not a 302: the callback is usually reached by a redirect after the EHR's consent form POST, and
    browsers check the EHR page's CSP ``form-action`` against every hop of that redirect chain,
    which would block a further hop to the app's origin. A fresh document load (meta refresh, plus
    a link) starts a new navigation that no form-action applies to.
    """
    return render(
        request,
        "returning.html",
        {"title": heading, "heading": heading, "target": target, "return_label": cs.return_button_label or "the app"},
    )


# --- Done --------------------------------------------------------------------------------------


@router.post("/c/{token}/done")
async def done(request: Request, token: str) -> Response:
    """Picker Mode Done: session `complete`, then 303 to `return_url?session_id&patient_id`."""
    ctx = get_context(request)
    form = await request.form()
    submitted = form.get("csrf_token")
    async with ctx.db.session() as session:
        cs = await _load(session, token)
        if cs is None:
            return _not_found(request)
        if not csrf_ok(ctx, "done", cs.id, browser_key(request), submitted if isinstance(submitted, str) else ""):
            return message_page(
                request, 403, "Please try that again",
                "Your browser sent an outdated form. Reload the page and press the button again.",
                link=(_base(ctx, token), "Reload"),
            )
        patient_id = await _patient_id(session, cs)
        if cs.status == "expired":
            return _closed_page(request, cs, patient_id)
        launch.complete_session(cs)
        target = returns.picker_done(cs.return_url, cs.id, patient_id)
    return RedirectResponse(target, status_code=303)
