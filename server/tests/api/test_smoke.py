"""First end-to-end pass over the API surface through the real app and database."""

from __future__ import annotations

import httpx


async def test_health_needs_no_key(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True and body["server_time"].endswith("Z")
    assert response.headers["x-request-id"]


async def test_patient_and_session_round_trip(api: httpx.AsyncClient) -> None:
    created = await api.post("/patients", json={"patient_id": "user_1", "email": "a@example.com"})
    assert created.status_code == 200, created.text
    sources = (await api.get("/connections", params={"q": "flaky"})).json()
    assert sources["data"][0]["name"] == "Sandbox Health (flaky)"
    session = await api.post(
        "/sessions",
        json={"patient_id": "user_1", "return_url": "https://app.example.com/done",
              "connection_id": sources["data"][0]["id"]},
    )
    assert session.status_code == 200, session.text
    body = session.json()
    assert body["url"].startswith("http://testserver/c/") and len(body["url"].rsplit("/", 1)[1]) == 32
    fetched = await api.get(f"/sessions/{body['id']}")
    assert fetched.json() == body
