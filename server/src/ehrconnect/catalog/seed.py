"""Seeds the sandbox environment's catalog with the built-in sandbox EHR's fault profiles."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ehrconnect.catalog.admin import sync_source_names
from ehrconnect.catalog.urls import normalize_base_url
from ehrconnect.kit.ids import new_id
from ehrconnect.models import FhirSource
from ehrconnect.sandbox_ehr.profiles import sandbox_sources

SANDBOX_VENDOR_TYPE = "sandbox"


async def seed_sandbox_catalog(session: AsyncSession, sandbox_root_url: str) -> list[FhirSource]:
    """Insert or update one sandbox source per fault profile (idempotent; ids stay stable).

    A seeded source is identified by its profile, not its URL: when the public URL changes
    (another port, a real hostname) the same `fhirsrc_` id moves to the new base URL instead
    of leaving a dead duplicate in the picker.
    """
    existing = (
        await session.execute(
            select(FhirSource).where(FhirSource.environment == "sandbox", FhirSource.type == SANDBOX_VENDOR_TYPE)
        )
    ).scalars().all()
    by_url = {source.normalized_base_url: source for source in existing}
    by_profile = {
        str(source.provenance.get("profile")): source
        for source in existing
        if (source.provenance or {}).get("importer") == "sandbox-ehr"
    }
    seeded = []
    for entry in sandbox_sources(sandbox_root_url):
        normalized = normalize_base_url(entry.fhir_base_url)
        source = by_url.get(normalized) or by_profile.get(entry.profile)
        if source is None:
            source = FhirSource(id=new_id("fhir_source"), environment="sandbox", normalized_base_url=normalized)
            session.add(source)
        source.normalized_base_url = normalized
        source.fhir_base_url = entry.fhir_base_url
        source.name = entry.name
        source.type = SANDBOX_VENDOR_TYPE
        source.brand = "Sandbox Health"
        source.aliases = [entry.name, f"sandbox {entry.profile}"]
        source.search_text = f"{entry.name} sandbox {entry.profile} {entry.description}"
        source.logo_url = None
        source.portal_url = entry.fhir_base_url.rsplit("/fhir", 1)[0]
        source.fhir_version = "4.0.1"
        source.hidden = False
        source.provenance = {"importer": "sandbox-ehr", "profile": entry.profile}
        seeded.append(source)
    # Anything else seeded earlier (a profile seen twice under old URLs) would be a dead entry.
    for stale in existing:
        if stale not in seeded and (stale.provenance or {}).get("importer") == "sandbox-ehr":
            stale.hidden = True
    await session.flush()
    for source in seeded:
        await sync_source_names(session, source, source.aliases[1:], "sandbox-ehr")
    return seeded
