"""Contract: /health, GET /connections and GET /connections/{id}."""

from __future__ import annotations

import re
from urllib.parse import quote

import httpx
import pytest
from contract_kit import ISO_PATTERN, LIST_KEYS, add_live_source, assert_error, assert_fhir_source, authed
from fastapi import FastAPI


async def test_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"ok", "server_time"} and body["ok"] is True
    assert re.match(ISO_PATTERN, body["server_time"])
    assert response.headers["content-type"] == "application/json"
    assert response.headers["version"] == "2026-04-25"


async def test_health_rejects_other_methods(client: httpx.AsyncClient) -> None:
    assert_error(await client.post("/health"), 405, "method_not_allowed")


async def test_list_sources_shape_and_paging(api: httpx.AsyncClient) -> None:
    first = (await api.get("/connections", params={"limit": 2})).json()
    assert set(first) == LIST_KEYS and first["resource_type"] == "list"
    assert len(first["data"]) == 2 and first["has_more"] is True and first["next_cursor"]
    for item in first["data"]:
        assert_fhir_source(item)
    seen = [s["id"] for s in first["data"]]
    cursor = first["next_cursor"]
    while cursor:
        page = (await api.get("/connections", params={"limit": 2, "starting_after": cursor})).json()
        seen += [s["id"] for s in page["data"]]
        cursor = page["next_cursor"]
    everything = (await api.get("/connections", params={"limit": 100})).json()
    assert seen == [s["id"] for s in everything["data"]]
    assert len(seen) == len(set(seen))


async def test_search_and_type_filter(api: httpx.AsyncClient) -> None:
    hits = (await api.get("/connections", params={"q": "FLAKY"})).json()["data"]
    assert hits and all("flaky" in (h["name"].lower() + str(h.get("matched_name")).lower()) for h in hits)
    assert (await api.get("/connections", params={"type": "epic"})).json()["data"] == []
    sandbox = (await api.get("/connections", params={"type": "sandbox"})).json()["data"]
    assert sandbox and all(s["type"] == "sandbox" for s in sandbox)
    assert (await api.get("/connections", params={"q": "zzzz-no-such"})).json()["data"] == []


@pytest.mark.parametrize(
    ("params", "param"),
    [({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"starting_after": "%%%"}, "starting_after"),
     ({"starting_after": "WzEsMl0"}, "starting_after")],
)
async def test_list_sources_bad_query(api: httpx.AsyncClient, params: dict[str, str | int], param: str) -> None:
    assert_error(await api.get("/connections", params=params), 400, "invalid_data", param)


async def test_get_source_by_id_and_encoded_base_url(api: httpx.AsyncClient) -> None:
    listed = (await api.get("/connections")).json()["data"][0]
    by_id = (await api.get(f"/connections/{listed['id']}")).json()
    assert_fhir_source(by_id)
    assert by_id["id"] == listed["id"]
    by_url = await api.get("/connections/" + quote(listed["fhir_base_url"], safe=""))
    assert by_url.status_code == 200, by_url.text
    assert by_url.json()["id"] == listed["id"]


async def test_get_source_unknown(api: httpx.AsyncClient) -> None:
    assert_error(await api.get("/connections/fhirsrc_nope"), 404, "resource_not_found")
    missing = "/connections/" + quote("https://nowhere.example.org/fhir", safe="")
    assert_error(await api.get(missing), 404, "resource_not_found")


async def test_live_catalog_is_separate(app: FastAPI, make_key: object) -> None:
    live = await add_live_source(app)
    secret = await make_key("acme", "live")  # type: ignore[operator]
    async with authed(app, secret) as live_api:
        listed = (await live_api.get("/connections")).json()["data"]
        assert [s["id"] for s in listed] == [live.id]
        by_url = await live_api.get("/connections/" + quote(live.fhir_base_url, safe=""))
        assert by_url.json()["id"] == live.id
