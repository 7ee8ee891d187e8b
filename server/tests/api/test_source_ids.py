"""Source ids that look like URLs but do not parse are unknown sources (404), never a 500; and
"same source" comparisons all use one identity (catalog.urls.source_key)."""

from __future__ import annotations

import httpx
import pytest
from ehrconnect.catalog.urls import source_key

BAD_URLS = ["http://[abc", "https://[::1", "https://host.example:99999/fhir", "https://host.example:x/fhir"]


@pytest.mark.parametrize("bad", BAD_URLS)
async def test_get_source_by_unparseable_url_is_404(api: httpx.AsyncClient, bad: str) -> None:
    response = await api.get(f"/connections/{bad}")
    assert response.status_code == 404, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("resource_not_found", "id")


@pytest.mark.parametrize("field", ["connection_id", "recommended_connection_ids"])
async def test_session_with_unparseable_source_url_is_404(api: httpx.AsyncClient, field: str) -> None:
    value: str | list[str] = "http://[abc" if field == "connection_id" else ["http://[abc"]
    response = await api.post(
        "/sessions", json={"patient_id": "p1", "return_url": "https://app.example/cb", field: value}
    )
    assert response.status_code == 404, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("resource_not_found", field)


async def test_lookup_by_any_spelling_of_the_base_url(api: httpx.AsyncClient) -> None:
    source = (await api.get("/connections", params={"q": "Sandbox Health"})).json()["data"][0]
    base = source["fhir_base_url"]
    for spelling in (base, base + "/", base.upper().replace("HTTP://", "http://")):
        response = await api.get(f"/connections/{spelling}")
        assert response.status_code == 200 and response.json()["id"] == source["id"], spelling


def test_source_key() -> None:
    assert source_key("HTTPS://Fhir.Example:443/R4/") == "https://fhir.example/r4"
    assert source_key("fhirsrc_01") is None
    for bad in [*BAD_URLS, "http://", "https:///path"]:
        assert source_key(bad) is None, bad
