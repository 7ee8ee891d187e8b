"""Search over the whole imported catalog, on SQLite and PostgreSQL, directly and via the API.

The labelled query set (labelled_queries.py: names, prefixes, typos, word order, places,
NPIs, athenahealth practices, vendors, brands) must put the expected source in the top 3.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from urllib.parse import quote

import httpx
import pytest
from ehrconnect.catalog.repository import get_source
from ehrconnect.catalog.search import search_sources
from ehrconnect.kit.db import Database
from labelled_queries import QUERIES, Labelled


@pytest.fixture
def db_url(full_catalog_url: str) -> str:
    """The API fixtures (settings/app/api) run on the imported catalog."""
    return full_catalog_url


KeyFactory = Callable[..., Awaitable[str]]


def _hit_matches(label: Labelled, hit: dict[str, str | None]) -> bool:
    if label.type is not None:
        return hit["type"] == label.type
    return hit["normalized"] == label.url and (label.matched is None or hit["matched_name"] == label.matched)


async def _direct(url: str, q: str, limit: int = 3) -> list[dict[str, str | None]]:
    db = Database(url)
    try:
        async with db.session() as session:
            page = await search_sources(session, environment="live", q=q, type_=None, limit=limit, starting_after=None)
    finally:
        await db.dispose()
    return [
        {"normalized": h.source.normalized_base_url, "type": h.source.type, "matched_name": h.matched_name}
        for h in page.hits
    ]


def test_query_set_is_large_and_varied() -> None:
    assert len(QUERIES) >= 40
    assert {q.kind for q in QUERIES} >= {"name", "typo", "place", "npi", "vendor", "shared", "order", "prefix"}


async def test_labelled_queries_top3_direct(full_catalog_url: str) -> None:
    failures = []
    for label in QUERIES:
        hits = await _direct(full_catalog_url, label.query)
        if not any(_hit_matches(label, hit) for hit in hits):
            failures.append((label.query, hits))
    assert not failures, failures


@pytest.fixture
async def live_api(client: httpx.AsyncClient, make_key: KeyFactory) -> httpx.AsyncClient:
    client.headers["Authorization"] = f"Bearer {await make_key('acme', 'live')}"
    return client


async def test_labelled_queries_top3_through_the_api(live_api: httpx.AsyncClient, full_catalog_url: str) -> None:
    db = Database(full_catalog_url)
    failures = []
    try:
        for label in QUERIES:
            response = await live_api.get("/connections", params={"q": label.query, "limit": 3})
            assert response.status_code == 200, response.text
            data = response.json()["data"]
            async with db.session() as session:
                hits = []
                for item in data:
                    source = await get_source(session, "live", item["id"])
                    assert source is not None
                    hits.append({"normalized": source.normalized_base_url, "type": item["type"],
                                 "matched_name": item["matched_name"]})
            if not any(_hit_matches(label, hit) for hit in hits):
                failures.append((label.query, data))
    finally:
        await db.dispose()
    assert not failures, failures


async def test_api_shows_the_practice_name_that_matched(live_api: httpx.AsyncClient) -> None:
    response = await live_api.get("/connections", params={"q": "Trophy Club Pediatrics"})
    first = response.json()["data"][0]
    assert first["name"] == "athenahealth"
    assert first["matched_name"] == "TX - Trophy Club Pediatrics, PA"
    assert first["fhir_base_url"] == "https://api.platform.athenahealth.com/fhir/r4"
    assert first["type"] == "athena"


async def test_pagination_is_stable_and_complete(live_api: httpx.AsyncClient) -> None:
    everything = (await live_api.get("/connections", params={"q": "pediatrics", "limit": 100})).json()
    assert everything["has_more"]
    ids: list[str] = []
    cursor = None
    for _ in range(10):
        params: dict[str, str | int] = {"q": "pediatrics", "limit": 10}
        if cursor:
            params["starting_after"] = cursor
        page = (await live_api.get("/connections", params=params)).json()
        ids += [item["id"] for item in page["data"]]
        cursor = page["next_cursor"]
        assert cursor is None or len(cursor) <= 200
    assert ids == [item["id"] for item in everything["data"]]
    assert len(set(ids)) == len(ids) == 100


async def test_short_queries_browse_alphabetically_with_pages(live_api: httpx.AsyncClient) -> None:
    first = (await live_api.get("/connections", params={"q": "a", "limit": 5})).json()
    same = (await live_api.get("/connections", params={"limit": 5})).json()
    assert [i["id"] for i in first["data"]] == [i["id"] for i in same["data"]]
    second = (await live_api.get("/connections", params={"limit": 5, "starting_after": first["next_cursor"]})).json()
    names = [i["name"].lower() for i in first["data"] + second["data"]]
    assert names == sorted(names)
    assert not {i["id"] for i in first["data"]} & {i["id"] for i in second["data"]}


async def test_type_filter_through_the_api(live_api: httpx.AsyncClient) -> None:
    data = (await live_api.get("/connections", params={"q": "medical center", "type": "meditech", "limit": 20})).json()
    assert data["data"] and {item["type"] for item in data["data"]} == {"meditech"}


async def test_bad_cursor_is_a_400(live_api: httpx.AsyncClient) -> None:
    forged = base64.urlsafe_b64encode(json.dumps(["s", "x"]).encode()).decode()
    for cursor in ("not-a-cursor", forged):
        response = await live_api.get("/connections", params={"q": "clinic", "starting_after": cursor})
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "starting_after"


async def test_live_and_sandbox_catalogs_are_separate(api: httpx.AsyncClient) -> None:
    # `api` is a sandbox key: the live catalog imported here is invisible to it.
    response = await api.get("/connections", params={"q": "Mayo Clinic"})
    assert all(item["type"] == "sandbox" for item in response.json()["data"])


async def test_retrieve_by_base_url_in_any_spelling(live_api: httpx.AsyncClient) -> None:
    by_search = (await live_api.get("/connections", params={"q": "Vishen"})).json()["data"][0]
    for spelling in (by_search["fhir_base_url"], by_search["fhir_base_url"].upper().replace("HTTPS", "https")):
        response = await live_api.get(f"/connections/{quote(spelling, safe='')}")
        assert response.status_code == 200, spelling
        assert response.json()["id"] == by_search["id"]
