"""``create_app(settings)``: TrialMatched's FastAPI application.

The browser talks only to this app; this app talks to ehrconnect with the SDK's
``AsyncClient`` and the key from the environment. The key never reaches a template, a cookie,
a JSON response or a log line.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from ehrconnect_client import AsyncClient
from fastapi import FastAPI
from fastapi.templating import Jinja2Templates
from starlette.staticfiles import StaticFiles

from .ehr import FacilityNames
from .security import SecurityHeaders
from .settings import AppSettings
from .store import Store
from .websession import SessionCodec

HERE = Path(__file__).parent
log = logging.getLogger("trialmatched")


@dataclass
class AppState:
    """Per-app singletons, reachable from a request as ``request.app.state.tm``."""

    settings: AppSettings
    store: Store
    codec: SessionCodec
    templates: Jinja2Templates
    names: FacilityNames
    client: AsyncClient | None = None

    @property
    def ehr(self) -> AsyncClient:
        if self.client is None:
            raise RuntimeError("the ehrconnect client is created when the app starts (lifespan)")
        return self.client


def create_app(settings: AppSettings, *, client: AsyncClient | None = None) -> FastAPI:
    """Build the app. Pass ``client`` to inject an SDK client (tests); it is then not closed."""
    state = AppState(
        settings=settings,
        store=Store(settings.database),
        codec=SessionCodec(settings.secret_key, secure=settings.cookie_secure),
        templates=Jinja2Templates(directory=HERE / "templates"),
        names=FacilityNames(),
        client=client,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = state.client is None
        if owned:
            state.client = AsyncClient(api_key=settings.api_key, base_url=settings.api_url)
        try:
            yield
        finally:
            if owned and state.client is not None:
                await state.client.aclose()
                state.client = None

    app = FastAPI(title="TrialMatched", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.tm = state

    from .routes import router

    app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_middleware(SecurityHeaders, hosted_origin=settings.hosted_origin)
    return app
