"""Startup and shutdown of the process-wide pieces (seeding, background workers, clients)."""

from __future__ import annotations

from ehrconnect.api.context import AppContext
from ehrconnect.catalog.seed import seed_sandbox_catalog
from ehrconnect.connections.smart_cache import cancel_prefetches, schedule_warmup


async def startup(ctx: AppContext) -> None:
    if ctx.settings.sandbox_ehr_enabled:
        async with ctx.db.session() as session:
            seeded = await seed_sandbox_catalog(session, ctx.settings.sandbox_root_url)
        # No discovery fetch on the hot path of a launch: warm the sandbox sources now.
        schedule_warmup(ctx, [source.fhir_base_url for source in seeded])
    if ctx.settings.embedded_worker:
        from ehrconnect.worker.embedded import start_embedded

        ctx.extras["worker"] = await start_embedded(ctx)


async def shutdown(ctx: AppContext) -> None:
    handle = ctx.extras.pop("worker", None)
    if handle is not None:
        await handle.stop()
    await cancel_prefetches(ctx)
    await ctx.http.aclose()
    await ctx.db.dispose()
