"""The sandbox EHR ASGI app: SMART authorization server + FHIR R4 server, one per fault profile."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from . import authorize, discovery, fhir_api, token
from .context import ROOT_PATH_KEY, Sandbox, profile_of, sandbox_of
from .data import test_patients
from .pages import error_page, render, static_file
from .profiles import sandbox_sources
from .settings import SandboxSettings


class _RootPathRecorder:
    """Remember the ASGI ``root_path`` this app is mounted at, before inner routing changes it.

    Absolute URLs (issuer, ``aud``, ``next`` links) are built from the request's scheme and host
    plus this root path, so they are right both standalone and under ``/sandbox-ehr``.
    """

    def __init__(self, app: ASGIApp, sandbox: Sandbox) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = dict(scope)
            scope[ROOT_PATH_KEY] = scope.get("root_path", "")
        await self.app(scope, receive, send)


async def home(request: Request) -> Response:
    """The portal's landing page (``<root>/`` and ``<root>/<profile>``): profiles with their FHIR
    base URLs, and the test patients."""
    sandbox = sandbox_of(request)
    profile = profile_of(request)
    if "profile" in request.path_params and profile is None:
        return await not_found(request, LookupError())
    await sandbox.dataset()
    return render(
        request,
        "home.html",
        {
            "title": "Home",
            "sources": sandbox_sources(sandbox.root_url(request)),
            "patients": test_patients(sandbox.settings),
        },
        profile=profile,
    )


async def not_found(request: Request, exc: Exception) -> Response:
    """Friendly 404 page for unknown paths."""
    return error_page(request, "Page not found", "There is nothing at this address.", status_code=404)


async def server_error(request: Request, exc: Exception) -> Response:
    """Friendly 500 page: never a stack trace."""
    return error_page(request, "Something went wrong", "Sandbox Health hit an error.", status_code=500)


def create_app(settings: SandboxSettings | None = None) -> ASGIApp:
    """Build the sandbox EHR ASGI app (mountable anywhere; see docs/sandbox-ehr.md)."""
    sandbox = Sandbox(settings or SandboxSettings())
    fhir = "/{profile}/fhir"
    oauth = "/{profile}/oauth"
    routes = [
        Route("/", home, methods=["GET"]),
        Route("/static/{name}", static_file, methods=["GET"]),
        Route("/{profile}", home, methods=["GET"]),
        Route("/{profile}/", home, methods=["GET"]),
        Route(f"{fhir}/metadata", discovery.metadata, methods=["GET"]),
        Route(f"{fhir}/.well-known/smart-configuration", discovery.smart_configuration, methods=["GET"]),
        Route(f"{fhir}/.well-known/openid-configuration", discovery.openid_configuration, methods=["GET"]),
        Route(f"{fhir}/Patient/{{rid}}/$everything", fhir_api.everything, methods=["GET"]),
        Route(f"{fhir}/{{rtype}}/{{rid}}", fhir_api.read, methods=["GET"]),
        Route(f"{fhir}/{{rtype}}", fhir_api.search, methods=["GET"]),
        Route(f"{oauth}/authorize", authorize.authorize, methods=["GET", "POST"]),
        Route(f"{oauth}/login", authorize.login, methods=["POST"]),
        Route(f"{oauth}/consent", authorize.consent_page, methods=["GET"]),
        Route(f"{oauth}/consent", authorize.consent_decision, methods=["POST"]),
        Route(f"{oauth}/token", token.token, methods=["POST"]),
        Route(f"{oauth}/revoke", token.revoke, methods=["POST"]),
        Route(f"{oauth}/introspect", token.introspect, methods=["POST"]),
        Route(f"{oauth}/jwks", token.jwks, methods=["GET"]),
    ]
    app = Starlette(routes=routes, exception_handlers={404: not_found, 500: server_error})
    app.state.sandbox = sandbox
    return _RootPathRecorder(app, sandbox)
