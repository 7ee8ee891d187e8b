"""Sandbox sources keep their ids when the public URL changes, and never show up twice."""

from __future__ import annotations

import httpx
from ehrconnect.catalog.seed import seed_sandbox_catalog
from ehrconnect.models import FhirSource
from ehrconnect.sandbox_ehr.profiles import PROFILES
from fastapi import FastAPI
from sqlalchemy import select


async def _sandbox_rows(app: FastAPI) -> list[FhirSource]:
    async with app.state.ctx.db.session() as session:
        rows = (await session.execute(select(FhirSource).where(FhirSource.environment == "sandbox"))).scalars()
        return sorted(rows, key=lambda s: s.name)


async def test_reseeding_under_a_new_public_url_moves_the_same_sources(app: FastAPI, api: httpx.AsyncClient) -> None:
    before = {s.provenance["profile"]: s.id for s in await _sandbox_rows(app)}
    async with app.state.ctx.db.session() as session:
        await seed_sandbox_catalog(session, "http://127.0.0.1:9999/sandbox-ehr")
    after = await _sandbox_rows(app)
    assert {s.provenance["profile"]: s.id for s in after} == before
    assert all(s.fhir_base_url.startswith("http://127.0.0.1:9999/sandbox-ehr/") for s in after)
    listed = (await api.get("/connections", params={"q": "sandbox health", "limit": 100})).json()["data"]
    assert len(listed) == len(PROFILES) == len({item["name"] for item in listed})
    assert all(item["fhir_base_url"].startswith("http://127.0.0.1:9999/") for item in listed)
