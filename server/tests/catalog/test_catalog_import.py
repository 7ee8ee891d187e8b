"""Importing real directory files into SQLite and PostgreSQL: merge, idempotency, flags, index sync."""

from __future__ import annotations

from pathlib import Path

import pytest
from catalog_support import BRANDS, LANTERN, ORACLE, require_catalog_data, run_import
from ehrconnect.catalog.admin import set_flag
from ehrconnect.catalog.search import search_sources
from ehrconnect.kit.db import Database
from ehrconnect.models import FhirSource, FhirSourceName
from sqlalchemy import func, select, text

EPIC = [
    LANTERN / "Epic_Systems_Corporation_EndpointSources.json",
    LANTERN / "Epic_Systems_Corporation_1_EndpointSources.json",
]
SMALL = [*EPIC, ORACLE / "soarian_patient_r4_endpoints.json", BRANDS, LANTERN / "CHPLEndpointResourcesList.json"]


@pytest.fixture(autouse=True)
def _data() -> None:
    require_catalog_data()


async def _snapshot(url: str, environment: str = "live") -> tuple[dict[str, str], int, dict[str, str]]:
    db = Database(url)
    try:
        async with db.session() as session:
            query = select(FhirSource).where(FhirSource.environment == environment)
            sources = (await session.execute(query)).scalars().all()
            by_url = {s.normalized_base_url: s.id for s in sources}
            names = await session.scalar(
                select(func.count()).select_from(FhirSourceName).where(FhirSourceName.environment == environment)
            )
            display = {s.normalized_base_url: s.name for s in sources}
        return by_url, int(names or 0), display
    finally:
        await db.dispose()


async def _search(
    url: str, q: str, environment: str = "live", type_: str | None = None
) -> list[tuple[str, str | None]]:
    db = Database(url)
    try:
        async with db.session() as session:
            page = await search_sources(
                session, environment=environment, q=q, type_=type_, limit=5, starting_after=None
            )
        return [(hit.source.normalized_base_url, hit.matched_name) for hit in page.hits]
    finally:
        await db.dispose()


async def test_import_merges_duplicates_and_reimport_is_idempotent(db_url: str) -> None:
    first = await run_import(db_url, SMALL)
    assert first.added == first.unique_urls > 400
    assert first.skipped["not_r4"] >= 480  # Epic's first list mixes DSTU2 and R4 bases
    # Both Epic lists name the same R4 bases: merged into one source each.
    assert first.merged >= 400
    ids, names, display = await _snapshot(db_url)

    again = await run_import(db_url, SMALL)
    assert (again.added, again.updated, again.names_added) == (0, 0, 0)
    assert again.unchanged == first.added
    ids_again, names_again, display_again = await _snapshot(db_url)
    assert ids_again == ids and names_again == names and display_again == display
    assert all(source_id.startswith("fhirsrc_") for source_id in ids.values())


async def test_import_updates_in_place_and_keeps_names_from_other_files(db_url: str) -> None:
    await run_import(db_url, [LANTERN / "Epic_Systems_Corporation_1_EndpointSources.json"])
    ids, names, _ = await _snapshot(db_url)
    # A later file about the same URLs (the other Epic list) adds names; ids stay.
    summary = await run_import(db_url, [LANTERN / "Epic_Systems_Corporation_EndpointSources.json"])
    ids_after, names_after, _ = await _snapshot(db_url)
    assert {k: ids_after[k] for k in ids} == ids
    assert names_after >= names
    assert summary.added == len(ids_after) - len(ids)


async def test_athena_practices_are_names_of_one_source(db_url: str) -> None:
    files = [LANTERN / "athenahealth_Inc_EndpointSources.json", LANTERN / "AthenaClinicals_EndpointSources.json"]
    summary = await run_import(db_url, files)
    _, names, display = await _snapshot(db_url)
    athena = "https://api.platform.athenahealth.com/fhir/r4"
    assert display[athena] == "athenahealth"
    assert names > 17000 and summary.names_added == names
    hits = await _search(db_url, "Sollus Pediatrics")
    assert hits[0] == (athena, "NC - Sollus Pediatrics")
    hits = await _search(db_url, "athenahealth")
    assert hits[0] == (athena, None)
    # Re-import: nothing new.
    again = await run_import(db_url, files)
    assert (again.added, again.updated, again.names_added) == (0, 0, 0)


async def test_brands_bundle_fields_and_sandbox_environment(db_url: str) -> None:
    summary = await run_import(db_url, [BRANDS], environment="sandbox")
    assert summary.skipped["not_r4"] == 1  # example2's DSTU2 ("R2") endpoint
    db = Database(db_url)
    try:
        async with db.session() as session:
            source = (
                await session.execute(
                    select(FhirSource).where(
                        FhirSource.environment == "sandbox",
                        FhirSource.normalized_base_url == "https://ehr.example.com/prodfhir/api/fhir/r4",
                    )
                )
            ).scalar_one()
            assert (source.name, source.brand) == ("ExampleHealth", "ExampleHealth")
            assert source.portal_url == "https://example.org/examplehealth/patient-portal-url"
            assert source.fhir_base_url == "https://ehr.example.com/ProdFHIR/api/FHIR/R4"
            assert "GoodHealth Hospital" in source.aliases
            assert {"city": "Fort Dodge", "state": "IA", "postal_code": None} in source.locations
    finally:
        await db.dispose()
    assert await _search(db_url, "GoodHealth Madison", environment="sandbox")
    assert await _search(db_url, "GoodHealth Madison", environment="live") == []


async def test_disabled_and_hidden_sources_never_appear(db_url: str) -> None:
    await run_import(db_url, [ORACLE / "soarian_patient_r4_endpoints.json"])
    hits = await _search(db_url, "Soarian Clinicals Public Sandbox")
    assert hits
    target = hits[0][0]
    db = Database(db_url)
    try:
        for action, visible in (("disable", False), ("enable", True), ("hide", False), ("unhide", True)):
            async with db.session() as session:
                assert await set_flag(session, "live", target, action) is not None
            assert (target in [url for url, _ in await _search(db_url, "Soarian Clinicals Public Sandbox")]) is visible
        async with db.session() as session:
            assert await set_flag(session, "live", "fhirsrc_nope", "hide") is None
    finally:
        await db.dispose()


async def test_type_filter(db_url: str) -> None:
    await run_import(db_url, [*EPIC, ORACLE / "soarian_patient_r4_endpoints.json"])
    cerner_hits = await _search(db_url, "health", type_="cerner")
    db = Database(db_url)
    try:
        async with db.session() as session:
            types = {
                s.type
                for s in (await session.execute(select(FhirSource).where(
                    FhirSource.normalized_base_url.in_([u for u, _ in cerner_hits])
                ))).scalars()
            }
    finally:
        await db.dispose()
    assert cerner_hits and types == {"cerner"}
    assert await _search(db_url, "soarian", type_="epic") == []


async def test_sqlite_fts_index_stays_in_sync(db_url: str) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("FTS5 shadow tables are SQLite-only")
    await run_import(db_url, SMALL)
    await run_import(db_url, [LANTERN / "Medical_Information_Technology_Inc_MEDITECH_EndpointSources.json"])
    db = Database(db_url)
    try:
        async with db.session() as session:
            names = await session.scalar(select(func.count()).select_from(FhirSourceName))
            # integrity-check raises on an external-content index out of sync with its table.
            for table in ("fhir_source_names_fts", "fhir_source_names_tri"):
                await session.execute(text(f"INSERT INTO {table}({table}) VALUES ('integrity-check')"))
            indexed = await session.scalar(text("SELECT count(*) FROM fhir_source_names_fts"))
        assert names == indexed
    finally:
        await db.dispose()


def test_catalog_data_dir_layout() -> None:
    # CI clones the repository with shared/ beside it: <repo>/../shared/data/catalog.
    assert Path(LANTERN).parent.name == "catalog"


async def test_recommended_sources_come_first(db_url: str) -> None:
    await run_import(db_url, [ORACLE / "soarian_patient_r4_endpoints.json", BRANDS])
    db = Database(db_url)
    try:
        async with db.session() as session:
            plain = await search_sources(session, environment="live", q=None, type_=None, limit=50, starting_after=None)
            last = plain.hits[-1].source.id
            boosted = await search_sources(
                session, environment="live", q=None, type_=None, limit=3, starting_after=None, recommended_ids=[last]
            )
            assert boosted.hits[0].source.id == last
            rest = await search_sources(
                session, environment="live", q=None, type_=None, limit=50,
                starting_after=boosted.next_cursor, recommended_ids=[last],
            )
            ids = [h.source.id for h in boosted.hits + rest.hits]
            assert sorted(ids) == sorted(h.source.id for h in plain.hits) and len(set(ids)) == len(ids)
            # In a search, a recommended source goes first among equally good matches.
            hits = (await search_sources(
                session, environment="live", q="example", type_=None, limit=20, starting_after=None
            )).hits
            assert len(hits) >= 2
            pick = hits[-1].source.id
            ranked = (await search_sources(
                session, environment="live", q="example", type_=None, limit=20, starting_after=None,
                recommended_ids=[pick],
            )).hits
            position = [h.source.id for h in ranked].index(pick)
            assert position < len(hits) - 1
    finally:
        await db.dispose()
