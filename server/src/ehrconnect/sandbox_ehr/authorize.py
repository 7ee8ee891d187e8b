"""The authorization endpoint and the portal pages behind it (SMART App Launch 2.x §2.0.5,
RFC 6749 §4.1.1-4.1.2, RFC 7636 PKCE).

Flow: ``GET authorize`` validates the request and shows the login page; ``POST login`` checks
the patient's credentials and redirects to ``GET consent``; ``POST consent`` redirects back to
the app with a code, or with ``error=access_denied``. A transaction id ties the pages together;
a per-browser cookie and a CSRF token bind the forms to the browser that started it.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from . import profiles
from .context import ROOT_PATH_KEY, Sandbox, profile_of, sandbox_of
from .data import test_patients
from .pages import error_page, origin_of, render
from .profiles import Profile
from .scopes import describe, grantable
from .settings import ClientRegistration
from .state import Grant, Transaction, hash_secret, new_secret

BROWSER_COOKIE = "sandbox_ehr_browser"
# RFC 7636 §4.2: S256 challenge is BASE64URL(SHA256(verifier)), 43 characters unpadded.
_CHALLENGE_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def with_params(url: str, params: dict[str, str]) -> str:
    """Add query parameters to a redirect URI, keeping any it already has (RFC 6749 §3.1.2)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def same_url(a: str, b: str) -> bool:
    """Compare base URLs ignoring one trailing slash (``aud`` check)."""
    return a.rstrip("/") == b.rstrip("/")


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def _portal_down(request: Request, profile: Profile) -> Response:
    return error_page(
        request,
        "The patient portal is unavailable",
        "Sandbox Health's sign-in service is down for maintenance. Please try again later.",
        status_code=503,
        profile=profile,
        headers={"Retry-After": "120"},
    )


def _unknown_profile(request: Request) -> Response:
    return error_page(request, "Page not found", "There is no such Sandbox Health site.", status_code=404)


async def _open_portal(request: Request, *, delay: bool) -> tuple[Sandbox, Profile] | Response:
    """The shared start of every portal step: the profile (or a friendly 404), the `slow`
    profile's delay on form steps, and the `portal-down` profile's 503 page."""
    sandbox = sandbox_of(request)
    profile = profile_of(request)
    if profile is None:
        return _unknown_profile(request)
    if delay:
        await sandbox.delay(profile)
    if profile.key == profiles.PORTAL_DOWN:
        return _portal_down(request, profile)
    return sandbox, profile


async def authorize(request: Request) -> Response:
    """``GET`` or ``POST <profile>/oauth/authorize``: validate, then show the login page.

    POST (form-encoded) is SMART's ``authorize-post`` capability.
    """
    opened = await _open_portal(request, delay=True)
    if isinstance(opened, Response):
        return opened
    sandbox, profile = opened
    params: Mapping[str, str]
    if request.method == "POST":
        form = await request.form()
        params = {key: value for key, value in form.items() if isinstance(value, str)}
    else:
        params = request.query_params
    # RFC 6749 §4.1.2.1: a missing/invalid client_id or redirect_uri must NOT redirect.
    client_id = params.get("client_id", "")
    client = sandbox.settings.client(client_id) if client_id else None
    if client is None:
        return error_page(
            request,
            "We can't connect this app",
            "The app that sent you here is not registered with Sandbox Health (unknown client_id).",
            profile=profile,
        )
    redirect_uri = params.get("redirect_uri", "")
    if redirect_uri not in client.redirect_uris:
        return error_page(
            request,
            "We can't connect this app",
            "The app sent you here with a return address (redirect_uri) that is not registered for it.",
            profile=profile,
        )
    state = params.get("state")

    def fail(error: str, description: str) -> Response:
        out = {"error": error, "error_description": description}
        if state is not None:
            out["state"] = state
        return _redirect(with_params(redirect_uri, out))

    if params.get("response_type") != "code":
        return fail("unsupported_response_type", "response_type must be code")
    if not state:
        return fail("invalid_request", "state is required")
    aud = params.get("aud")
    if not aud or not same_url(aud, sandbox.fhir_base(request, profile)):
        return fail("invalid_request", "aud must be this server's FHIR base URL")
    if params.get("code_challenge_method") != "S256":
        return fail("invalid_request", "PKCE with code_challenge_method=S256 is required")
    challenge = params.get("code_challenge", "")
    if not _CHALLENGE_RE.match(challenge):
        return fail("invalid_request", "code_challenge must be a base64url SHA-256 digest")
    scopes = grantable(params.get("scope", ""))
    if profile.key == profiles.NO_OFFLINE:
        scopes = [s for s in scopes if s != "offline_access"]
    if not any(s.startswith("patient/") for s in scopes):
        return fail("invalid_scope", "ask for at least one patient/ read scope")

    await sandbox.dataset()  # load in a worker thread before the page lists the patients
    browser_key = request.cookies.get(BROWSER_COOKIE) or new_secret()
    transaction = Transaction(
        id=new_secret(),
        profile=profile.key,
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        state=state,
        scopes=scopes,
        code_challenge=challenge,
        nonce=params.get("nonce"),
        csrf_token=new_secret(),
        browser_hash=hash_secret(browser_key),
        expires_at=time.time() + sandbox.settings.login_transaction_lifetime,
    )
    sandbox.state.add_transaction(transaction)
    response = _login_page(request, sandbox, profile, transaction, client)
    root_path = request.scope.get(ROOT_PATH_KEY, "") or ""
    response.set_cookie(
        BROWSER_COOKIE,
        browser_key,
        path=root_path.rstrip("/") + "/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


def _client_name(client: ClientRegistration | None, client_id: str) -> str:
    return (client.name if client and client.name else None) or client_id


def _login_page(
    request: Request,
    sandbox: Sandbox,
    profile: Profile,
    transaction: Transaction,
    client: ClientRegistration | None,
    *,
    error: str | None = None,
    username: str = "",
) -> Response:
    return render(
        request,
        "login.html",
        {
            "title": "Sign in",
            "client_name": _client_name(client, transaction.client_id),
            "action": sandbox.oauth_url(request, profile, "login"),
            "tx": transaction.id,
            "csrf_token": transaction.csrf_token,
            "error": error,
            "username": username,
            "password": sandbox.settings.patient_password,
            "patients": test_patients(sandbox.settings),
        },
        status_code=200 if error is None else 401,
        profile=profile,
        redirect_origin=origin_of(transaction.redirect_uri),
    )


async def _form_transaction(
    request: Request, sandbox: Sandbox, profile: Profile
) -> tuple[Transaction | None, dict[str, str]]:
    form = await request.form()
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    transaction = sandbox.state.transaction(fields.get("tx", ""), request.cookies.get(BROWSER_COOKIE))
    if transaction is None or transaction.profile != profile.key:
        return None, fields
    if not secrets.compare_digest(transaction.csrf_token, fields.get("csrf_token", "")):
        return None, fields
    return transaction, fields


def _expired(request: Request, profile: Profile) -> Response:
    return error_page(
        request,
        "This sign-in page has expired",
        "The sign-in request expired, was already used, or was opened in a different browser.",
        profile=profile,
    )


async def login(request: Request) -> Response:
    """``POST <profile>/oauth/login``: check the patient's username and password."""
    opened = await _open_portal(request, delay=True)
    if isinstance(opened, Response):
        return opened
    sandbox, profile = opened
    transaction, fields = await _form_transaction(request, sandbox, profile)
    if transaction is None:
        return _expired(request, profile)
    dataset = await sandbox.dataset()
    username = fields.get("username", "").strip().lower()
    record = dataset.by_username.get(username)
    password_ok = secrets.compare_digest(
        fields.get("password", "").encode(), sandbox.settings.patient_password.encode()
    )
    client = sandbox.settings.client(transaction.client_id)
    if record is None or not password_ok:
        return _login_page(
            request,
            sandbox,
            profile,
            transaction,
            client,
            error="The username or password is not correct.",
            username=username,
        )
    transaction.patient_id = record.id
    transaction.csrf_token = new_secret()  # a new token per step
    return _redirect(sandbox.oauth_url(request, profile, "consent") + "?" + urlencode({"tx": transaction.id}))


async def consent_page(request: Request) -> Response:
    """``GET <profile>/oauth/consent``: list the requested scopes in plain language."""
    opened = await _open_portal(request, delay=False)
    if isinstance(opened, Response):
        return opened
    sandbox, profile = opened
    transaction = sandbox.state.transaction(request.query_params.get("tx", ""), request.cookies.get(BROWSER_COOKIE))
    if transaction is None or transaction.patient_id is None or transaction.profile != profile.key:
        return _expired(request, profile)
    dataset = await sandbox.dataset()
    client = sandbox.settings.client(transaction.client_id)
    return render(
        request,
        "consent.html",
        {
            "title": "Share your record",
            "client_name": _client_name(client, transaction.client_id),
            "patient_name": dataset.patients[transaction.patient_id].display_name,
            "scopes": [{"scope": s, "text": describe(s)} for s in transaction.scopes],
            "action": sandbox.oauth_url(request, profile, "consent"),
            "tx": transaction.id,
            "csrf_token": transaction.csrf_token,
        },
        profile=profile,
        redirect_origin=origin_of(transaction.redirect_uri),
    )


async def consent_decision(request: Request) -> Response:
    """``POST <profile>/oauth/consent``: redirect to the app with a code or ``access_denied``."""
    opened = await _open_portal(request, delay=True)
    if isinstance(opened, Response):
        return opened
    sandbox, profile = opened
    transaction, fields = await _form_transaction(request, sandbox, profile)
    if transaction is None or transaction.patient_id is None:
        return _expired(request, profile)
    decision = fields.get("decision")
    if decision not in ("allow", "deny"):
        return error_page(request, "Please choose", "Choose Allow or Deny.", profile=profile)
    sandbox.state.finish_transaction(transaction.id)
    if decision == "deny" or profile.key == profiles.DENY:
        return _redirect(
            with_params(
                transaction.redirect_uri,
                {
                    "error": "access_denied",
                    "error_description": "The patient did not allow access",
                    "state": transaction.state,
                },
            )
        )
    grant = Grant(
        id=new_secret(),
        profile=profile.key,
        client_id=transaction.client_id,
        patient_id=transaction.patient_id,
        scopes=transaction.scopes,
        nonce=transaction.nonce,
    )
    code = sandbox.state.issue_code(
        grant, transaction.redirect_uri, transaction.code_challenge, sandbox.settings.code_lifetime
    )
    return _redirect(with_params(transaction.redirect_uri, {"code": code, "state": transaction.state}))
