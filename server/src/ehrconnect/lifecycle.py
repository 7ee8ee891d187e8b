"""Startup and shutdown of the process-wide pieces (seeding, background workers, clients)."""

from __future__ import annotations

from ehrconnect.api.context import AppContext
from ehrconnect.catalog.seed import seed_sandbox_catalog


async def startup(ctx: AppContext) -> None:
    if ctx.settings.sandbox_ehr_enabled:
        async with ctx.db.session() as session:
            await seed_sandbox_catalog(session, ctx.settings.sandbox_root_url)


async def shutdown(ctx: AppContext) -> None:
    await ctx.http.aclose()
    await ctx.db.dispose()
