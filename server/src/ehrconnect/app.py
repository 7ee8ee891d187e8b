"""create_app(): middleware order, the JSON API, hosted pages, the sandbox EHR, docs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from ehrconnect import __version__
from ehrconnect.api.context import AppContext, build_cipher
from ehrconnect.api.handlers import install_handlers
from ehrconnect.api.idempotency import IdempotencyMiddleware
from ehrconnect.api.middleware import RequestContextMiddleware
from ehrconnect.api.openapi import build_openapi
from ehrconnect.api.security import SecurityHeadersMiddleware
from ehrconnect.auth.ratelimit import RateLimiter
from ehrconnect.config import Settings
from ehrconnect.kit.db import Database
from ehrconnect.logging_setup import configure_logging
from ehrconnect.smart import create_http_client

HOSTED_STATIC = Path(__file__).parent / "hosted" / "static"


def build_context(settings: Settings) -> AppContext:
    return AppContext(
        settings=settings,
        db=Database(settings.resolved_database_url, pool_size=settings.db_pool_size),
        cipher=build_cipher(settings),
        rate_limiter=RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst),
        # Shared by every patient's EHR calls: pooled, no redirects and never a cookie jar (one
        # patient's EHR session cookies must not ride along on another patient's requests).
        http=create_http_client(timeout=httpx.Timeout(20.0, connect=5.0)),
    )


def create_app(settings: Settings | None = None, *, ctx: AppContext | None = None) -> FastAPI:
    """The whole platform as one ASGI app. Pass `ctx` to share a database with a test."""
    settings = settings or (ctx.settings if ctx else Settings())
    configure_logging(settings.log_level, settings.log_json)
    context = ctx or build_context(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from ehrconnect.lifecycle import shutdown, startup

        await startup(context)
        try:
            yield
        finally:
            await shutdown(context)

    app = FastAPI(
        title="ehrconnect Platform API",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    app.state.ctx = context
    install_handlers(app)

    from ehrconnect.api.health import router as health_router
    from ehrconnect.catalog.endpoints import router as catalog_router
    from ehrconnect.docs_ui.routes import mount_docs
    from ehrconnect.hosted.routes import router as hosted_router
    from ehrconnect.patients.endpoints import router as patients_router
    from ehrconnect.records.endpoints import router as records_router
    from ehrconnect.sessions.endpoints import router as sessions_router

    for router in (health_router, patients_router, sessions_router, catalog_router, records_router):
        app.include_router(router)
    app.include_router(hosted_router)
    app.mount("/static", StaticFiles(directory=HOSTED_STATIC), name="static")
    mount_docs(app)
    if settings.sandbox_ehr_enabled and settings.sandbox_ehr_url is None:
        from ehrconnect.sandbox_integration import mount_sandbox_ehr

        mount_sandbox_ehr(app, settings)

    app.openapi = lambda: _cached_openapi(app)  # type: ignore[method-assign]
    # Outermost first: request id + limits wrap everything, then idempotency, then headers.
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.public_url.startswith("https://"))
    app.add_middleware(IdempotencyMiddleware, ctx_getter=lambda: context)
    app.add_middleware(
        RequestContextMiddleware, public_url=settings.public_url, max_body_bytes=settings.max_body_bytes
    )
    return app


def _cached_openapi(app: FastAPI) -> dict[str, object]:
    if app.openapi_schema is None:
        app.openapi_schema = build_openapi(app)
    return app.openapi_schema


def create_app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` (multi-process `serve`): settings from the environment."""
    return create_app(Settings())
