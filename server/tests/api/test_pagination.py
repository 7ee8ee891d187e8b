"""Keyset pagination: stable under inserts between page reads, opaque cursors, 400 on garbage."""

from __future__ import annotations

import httpx
import pytest
from contract_kit import assert_error, new_session


async def _walk(api: httpx.AsyncClient, path: str, limit: int, between: object = None) -> list[str]:
    """Read every page; call `between(page_number)` after each page (to insert rows)."""
    seen: list[str] = []
    cursor = None
    page_number = 0
    while True:
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["starting_after"] = cursor
        page = (await api.get(path, params=params)).json()
        assert len(page["data"]) <= limit
        seen += [item["id"] for item in page["data"]]
        assert page["has_more"] == (page["next_cursor"] is not None)
        cursor = page["next_cursor"]
        page_number += 1
        if between is not None:
            await between(page_number)  # type: ignore[operator]
        if not cursor:
            return seen


async def test_patients_pages_survive_concurrent_inserts(api: httpx.AsyncClient) -> None:
    existing = []
    for i in range(7):
        existing.append((await api.post("/patients", json={"patient_id": f"old{i}"})).json()["id"])

    async def insert(page_number: int) -> None:
        await api.post("/patients", json={"patient_id": f"new{page_number}"})

    seen = await _walk(api, "/patients", 3, insert)
    assert len(seen) == len(set(seen)), "a row was returned twice"
    old = [pid for pid in seen if pid.startswith("old")]
    assert old == list(reversed(existing)), "pre-existing rows skipped or out of order"


async def test_sessions_pages_survive_concurrent_inserts(api: httpx.AsyncClient) -> None:
    existing = [(await new_session(api, "pp"))["id"] for _ in range(5)]
    added: list[str] = []

    async def insert(_page: int) -> None:
        added.append((await new_session(api, "pp"))["id"])

    seen = await _walk(api, "/patients/pp/sessions", 2, insert)
    assert len(seen) == len(set(seen))
    assert [s for s in seen if s in existing] == list(reversed(existing))


async def test_last_page_and_exact_fit(api: httpx.AsyncClient) -> None:
    for i in range(4):
        await api.post("/patients", json={"patient_id": f"p{i}"})
    full = (await api.get("/patients", params={"limit": 4})).json()
    assert len(full["data"]) == 4 and full["has_more"] is False and full["next_cursor"] is None
    first = (await api.get("/patients", params={"limit": 2})).json()
    second = (await api.get("/patients", params={"limit": 2, "starting_after": first["next_cursor"]})).json()
    assert second["has_more"] is False and second["next_cursor"] is None
    default = (await api.get("/patients")).json()
    assert len(default["data"]) == 4  # default limit 10


async def test_default_limit_is_ten(api: httpx.AsyncClient) -> None:
    for i in range(11):
        await api.post("/patients", json={"patient_id": f"d{i}"})
    page = (await api.get("/patients")).json()
    assert len(page["data"]) == 10 and page["has_more"] is True


async def test_filters_hold_across_pages(api: httpx.AsyncClient) -> None:
    for i in range(5):
        await api.post("/patients", json={"patient_id": f"f{i}", "email": "same@example.com" if i % 2 else None})
    cursor = None
    seen: list[str] = []
    while True:
        params: dict[str, str | int] = {"limit": 1, "email": "same@example.com"}
        if cursor:
            params["starting_after"] = cursor
        page = (await api.get("/patients", params=params)).json()
        seen += [p["id"] for p in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ["f3", "f1"]


@pytest.mark.parametrize("cursor", ["", "!!!", "YWJj", "YzE6Li4u", "x" * 201])
async def test_malformed_cursor(api: httpx.AsyncClient, cursor: str) -> None:
    await api.post("/patients", json={"patient_id": "c"})
    response = await api.get("/patients", params={"starting_after": cursor})
    if cursor == "":
        assert response.status_code in {200, 400}
        return
    assert_error(response, 400, "invalid_data", "starting_after")
