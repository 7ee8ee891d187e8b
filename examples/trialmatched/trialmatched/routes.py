"""TrialMatched's routes: one server route per ehrconnect flow, plus the pages around them.

* ``POST /connect/picker``  -> ``POST /sessions`` (no ``connection_id``) -> 303 to the hosted picker
* ``POST /connect/direct``  -> ``POST /sessions`` with the chosen facility -> 303 to its portal
* ``GET /connect/return``   -> ``GET /sessions/{id}`` server-side -> success / partial / failure /
  cancelled / pending page
* ``GET /api/facilities``   -> ``GET /connections?q=`` (the search box's JSON, same origin)
* ``GET /api/dashboard``    -> ``GET /patients/{id}`` + records count (the home page polls it)
"""

from __future__ import annotations

import logging
import re
from typing import Annotated, Any

from ehrconnect_client import EhrconnectError, ReturnURLError, parse_return_url
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from . import ehr
from .app import AppState
from .errors import Friendly, log_sdk_error, to_friendly
from .labels import PULLING, dashboard_json, records_label, status_label
from .outcome import State, classify, describe_failure
from .store import User
from .websession import WebSession

router = APIRouter()
log = logging.getLogger("trialmatched")

USERNAME = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
FACILITY_ID = re.compile(r"^fhirsrc_[0-9A-Za-z]{1,64}$")
SESSION_ID = re.compile(r"^sess_[0-9A-Za-z]{1,64}$")

CsrfField = Annotated[str, Form()]


def _state(request: Request) -> AppState:
    state: AppState = request.app.state.tm
    return state


async def _who(request: Request) -> tuple[WebSession, User | None]:
    state = _state(request)
    session = state.codec.load(request)
    user = await run_in_threadpool(state.store.get_user, session.user_id) if session.user_id is not None else None
    return session, user


def _render(
    request: Request, session: WebSession, user: User | None, name: str, status: int = 200, **context: Any
) -> HTMLResponse:
    state = _state(request)
    response = state.templates.TemplateResponse(
        request,
        name,
        {"user": user, "csrf_token": session.csrf_token, "PULLING": PULLING, **context},
        status_code=status,
    )
    state.codec.save(response, session)
    return response


def _message(
    request: Request, session: WebSession, user: User | None, friendly: Friendly, *, reference: str | None = None
) -> HTMLResponse:
    response = _render(
        request, session, user, "message.html", friendly.status,
        title=friendly.title, message=friendly.message, reference=reference,
    )
    if friendly.retry_after:
        response.headers["Retry-After"] = str(friendly.retry_after)
    return response


def _redirect(request: Request, session: WebSession, url: str) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    _state(request).codec.save(response, session)
    return response


FORBIDDEN = Friendly(403, "Please try again", "That form had expired. Go back, reload the page and try again.")
SIGN_IN = Friendly(401, "Please sign in", "Sign in to TrialMatched to continue.")
NOT_FOUND = Friendly(404, "Connection not found", "We could not find that connection attempt.")


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, q: Annotated[str | None, Query(max_length=200)] = None) -> Response:
    """Signed out: the sign-in form. Signed in: connected facilities, Connect, facility search."""
    session, user = await _who(request)
    if user is None:
        return _render(request, session, None, "signin.html", title="Sign in")
    state = _state(request)
    notice = None
    try:
        board = await ehr.dashboard(state.ehr, user, state.names, cap=state.settings.records_count_cap)
    except EhrconnectError as err:
        log_sdk_error(err, action="dashboard")
        board, notice = ehr.Dashboard([], None, False), "We could not load your connected facilities right now."
    results: list[ehr.Facility] | None = None
    search_notice = None
    if q is not None:
        try:
            results = await ehr.search_facilities(state.ehr, q)
        except EhrconnectError as err:
            log_sdk_error(err, action="search")
            results, search_notice = [], to_friendly(err, action="search").message
    return _render(
        request, session, user, "home.html",
        title="Your health records", board=board, notice=notice, q=q or "", results=results,
        search_notice=search_notice, status_label=status_label, records_label=records_label,
    )


@router.post("/signin")
async def sign_in(request: Request, csrf_token: CsrfField, username: Annotated[str, Form()] = "") -> Response:
    """Demo sign-in: any username (letters, digits, ``_.-``) becomes a TrialMatched user."""
    session, _ = await _who(request)
    if not session.csrf_ok(csrf_token):
        return _message(request, session, None, FORBIDDEN)
    name = username.strip()
    if not USERNAME.match(name):
        return _render(
            request, session, None, "signin.html", 400, title="Sign in", username=name,
            error="Use 1 to 40 letters, digits, dots, dashes or underscores.",
        )
    user = await run_in_threadpool(_state(request).store.get_or_create_user, name)
    session.sign_in(user.id)
    return _redirect(request, session, "/")


@router.post("/signout")
async def sign_out(request: Request, csrf_token: CsrfField) -> Response:
    session, user = await _who(request)
    if not session.csrf_ok(csrf_token):
        return _message(request, session, user, FORBIDDEN)
    session.sign_out()
    return _redirect(request, session, "/")


async def _start(request: Request, csrf_token: str, facility_id: str | None) -> Response:
    session, user = await _who(request)
    if user is None:
        return _message(request, session, None, SIGN_IN)
    if not session.csrf_ok(csrf_token):
        return _message(request, session, user, FORBIDDEN)
    state = _state(request)
    mode = "picker" if facility_id is None else "direct"
    try:
        connect = await ehr.start_session(state.ehr, user, state.settings.return_url, facility_id=facility_id)
    except EhrconnectError as err:
        log_sdk_error(err, action="start_session", mode=mode)
        return _message(request, session, user, to_friendly(err, action="start_session"))
    await run_in_threadpool(state.store.record_attempt, connect.id, user.id, mode, facility_id)
    if not connect.url.startswith(state.settings.hosted_origin + "/"):
        log.warning("session url is not on %s: set TRIALMATCHED_CONNECT_ORIGIN", state.settings.hosted_origin)
    log.info("connect session started: mode=%s session_id=%s", mode, connect.id)
    return _redirect(request, session, connect.url)


@router.post("/connect/picker")
async def connect_picker(request: Request, csrf_token: CsrfField) -> Response:
    """Picker mode: ehrconnect's hosted page lets the patient search and connect facilities."""
    return await _start(request, csrf_token, None)


@router.post("/connect/direct")
async def connect_direct(
    request: Request, csrf_token: CsrfField, facility_id: Annotated[str, Form()] = ""
) -> Response:
    """Direct mode: the patient chose a facility in our own search; go straight to its portal."""
    if not FACILITY_ID.match(facility_id):
        session, user = await _who(request)
        return _message(request, session, user, Friendly(400, "Choose a facility", "Search and pick a facility."))
    return await _start(request, csrf_token, facility_id)


@router.get("/connect/return", response_class=HTMLResponse)
async def connect_return(request: Request) -> Response:
    """Where ehrconnect sends the patient back. The query string only says *which* session;
    what happened is read from ``GET /sessions/{id}`` on the server."""
    session, user = await _who(request)
    if user is None:
        return _message(request, session, None, SIGN_IN)
    try:
        hint = parse_return_url(str(request.url.query))
    except ReturnURLError:
        return _message(request, session, user, Friendly(400, "Nothing to show", "This page needs a session."))
    state = _state(request)
    attempt = await run_in_threadpool(state.store.get_attempt, hint.session_id)
    # Only sessions this user started here: a forwarded return link shows nothing to others.
    if not SESSION_ID.match(hint.session_id) or attempt is None or attempt.user_id != user.id:
        return _message(request, session, user, NOT_FOUND)
    try:
        connect = await ehr.read_session(state.ehr, hint.session_id)
    except EhrconnectError as err:
        log_sdk_error(err, action="read_session", session_id=hint.session_id)
        return _message(request, session, user, to_friendly(err, action="read_session"))
    if connect.patient_id != user.patient_id:
        return _message(request, session, user, NOT_FOUND)
    outcome = classify(connect, hint)
    request_id = connect.last_response.request_id if connect.last_response else None
    if outcome.state in (State.FAILURE, State.PARTIAL):
        log.warning(
            "connect %s: session_id=%s mode=%s failure_codes=%s request_id=%s",
            outcome.state.value, connect.id, attempt.mode, ",".join(outcome.failure_codes), request_id,
        )
    else:
        log.info("connect %s: session_id=%s mode=%s", outcome.state.value, connect.id, attempt.mode)
    reasons = [describe_failure(code) for code in outcome.failure_codes]
    return _render(
        request, session, user, "return.html",
        title=_RETURN_TITLES[outcome.state], outcome=outcome, reasons=reasons, reference=request_id,
        resume_url=connect.url if outcome.state is State.PENDING else None,
    )


_RETURN_TITLES = {
    State.SUCCESS: PULLING,
    State.PARTIAL: "Some of your records are connected",
    State.FAILURE: "We could not connect your records",
    State.CANCELLED: "No records were connected",
    State.PENDING: "You have not finished connecting",
}


@router.get("/api/facilities")
async def api_facilities(request: Request, q: Annotated[str, Query(max_length=200)] = "") -> Response:
    """The search box's backend: ``{"data": [{id, name, type}]}`` from the ehrconnect catalog."""
    _, user = await _who(request)
    if user is None:
        return JSONResponse({"error": {"message": SIGN_IN.message}}, status_code=401)
    try:
        facilities = await ehr.search_facilities(_state(request).ehr, q)
    except EhrconnectError as err:
        log_sdk_error(err, action="search")
        friendly = to_friendly(err, action="search")
        return JSONResponse({"error": {"message": friendly.message}}, status_code=friendly.status)
    return JSONResponse({"data": [f.as_json() for f in facilities]})


@router.get("/api/dashboard")
async def api_dashboard(request: Request) -> Response:
    """Labels for the home page's facility list, polled while records are still arriving."""
    _, user = await _who(request)
    if user is None:
        return JSONResponse({"error": {"message": SIGN_IN.message}}, status_code=401)
    state = _state(request)
    try:
        board = await ehr.dashboard(state.ehr, user, state.names, cap=state.settings.records_count_cap)
    except EhrconnectError as err:
        log_sdk_error(err, action="dashboard")
        friendly = to_friendly(err, action="dashboard")
        return JSONResponse({"error": {"message": friendly.message}}, status_code=friendly.status)
    return JSONResponse(dashboard_json(board))
