"""Catalog lookups by id or base URL, scoped to an environment."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ehrconnect.catalog.urls import looks_like_url, source_key
from ehrconnect.models import FhirSource


async def get_source(session: AsyncSession, environment: str, id_or_url: str) -> FhirSource | None:
    """A source by `fhirsrc_` id or by its FHIR base URL (any normalization of it)."""
    query = select(FhirSource).where(FhirSource.environment == environment)
    if looks_like_url(id_or_url):
        key = source_key(id_or_url)
        if key is None:  # URL-shaped but unparseable: no such source
            return None
        query = query.where(FhirSource.normalized_base_url == key)
    else:
        query = query.where(FhirSource.id == id_or_url)
    return (await session.execute(query)).scalar_one_or_none()
