"""AsyncClient: every method's request and parsing, retries with an awaited fake sleep, errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from ehrconnect_client import (
    APIConnectionError,
    APIServerError,
    AsyncClient,
    DeletedPatient,
    DisconnectedConnection,
    FhirSource,
    Health,
    ListPage,
    NotFoundError,
    Patient,
    PatientDetail,
    RecordsPage,
    Session,
    SyncRequested,
)
from sdk_fakes import (
    API_KEY,
    TS,
    FakeAPI,
    error_reply,
    list_json,
    patient_connection_json,
    patient_json,
    reply,
    session_json,
    source_json,
)

Call = Callable[[AsyncClient], Awaitable[Any]]

CASES: list[tuple[str, Call, Any, str, str, dict[str, str], Any, type]] = [
    ("health", lambda c: c.health(), {"ok": True, "server_time": TS}, "GET", "/health", {}, None, Health),
    (
        "patients.create",
        lambda c: c.patients.create("user_42", email="jane@example.com", metadata={"a": 1}),
        patient_json(),
        "POST",
        "/patients",
        {},
        {"patient_id": "user_42", "email": "jane@example.com", "metadata": {"a": 1}},
        Patient,
    ),
    (
        "patients.retrieve",
        lambda c: c.patients.retrieve("user_42"),
        patient_json(connections=[patient_connection_json()]),
        "GET",
        "/patients/user_42",
        {},
        None,
        PatientDetail,
    ),
    (
        "patients.update",
        lambda c: c.patients.update("user_42", name="Jane"),
        patient_json(),
        "PUT",
        "/patients/user_42",
        {},
        {"patient_id": "user_42", "name": "Jane"},
        Patient,
    ),
    (
        "patients.delete",
        lambda c: c.patients.delete("user_42"),
        {"id": "user_42", "resource_type": "patient", "deleted": True},
        "DELETE",
        "/patients/user_42",
        {},
        None,
        DeletedPatient,
    ),
    (
        "patients.list",
        lambda c: c.patients.list(limit=3, patient_id="user_42"),
        list_json([patient_json()]),
        "GET",
        "/patients",
        {"limit": "3", "patient_id": "user_42"},
        None,
        ListPage,
    ),
    (
        "patients.list_sessions",
        lambda c: c.patients.list_sessions("user_42", status="expired"),
        list_json([session_json()]),
        "GET",
        "/patients/user_42/sessions",
        {"status": "expired"},
        None,
        ListPage,
    ),
    (
        "patients.disconnect",
        lambda c: c.patients.disconnect("user_42", "conn_9"),
        {"id": "conn_9", "resource_type": "connection", "disconnected": True},
        "DELETE",
        "/patients/user_42/connections/conn_9",
        {},
        None,
        DisconnectedConnection,
    ),
    (
        "patients.records",
        lambda c: c.patients.records("user_42", type="Condition", count=10, starting_after="abc"),
        list_json([], patient_id="user_42", previous_cursor=None),
        "GET",
        "/patients/user_42/records",
        {"type": "Condition", "count": "10", "starting_after": "abc"},
        None,
        RecordsPage,
    ),
    (
        "patients.list_sync_runs",
        lambda c: c.patients.list_sync_runs("user_42", "conn_9"),
        list_json([{"id": "run_1", "counts": {"Patient": 1}}]),
        "GET",
        "/patients/user_42/connections/conn_9/sync-runs",
        {},
        None,
        ListPage,
    ),
    (
        "patients.request_sync",
        lambda c: c.patients.request_sync("user_42", "conn_9", idempotency_key="k1"),
        {"id": "conn_9", "resource_type": "connection", "sync_requested": True},
        "POST",
        "/patients/user_42/connections/conn_9/sync",
        {},
        {},
        SyncRequested,
    ),
    (
        "sessions.create",
        lambda c: c.sessions.create(patient_id="user_42", return_url="https://a.test/r", connection_id="fhirsrc_1"),
        session_json(),
        "POST",
        "/sessions",
        {},
        {"patient_id": "user_42", "return_url": "https://a.test/r", "connection_id": "fhirsrc_1"},
        Session,
    ),
    (
        "sessions.retrieve",
        lambda c: c.sessions.retrieve("sess_1"),
        session_json(),
        "GET",
        "/sessions/sess_1",
        {},
        None,
        Session,
    ),
    (
        "connections.list",
        lambda c: c.connections.list(q="ep"),
        list_json([source_json()]),
        "GET",
        "/connections",
        {"q": "ep"},
        None,
        ListPage,
    ),
    (
        "connections.retrieve",
        lambda c: c.connections.retrieve("http://localhost:9000/fhir"),
        source_json(),
        "GET",
        "/connections/http%3A%2F%2Flocalhost%3A9000%2Ffhir",
        {},
        None,
        FhirSource,
    ),
]


@pytest.mark.parametrize(
    ("name", "call", "body", "method", "path", "params", "sent", "model"), CASES, ids=[c[0] for c in CASES]
)
async def test_async_method(
    aclient: AsyncClient,
    fake: FakeAPI,
    name: str,
    call: Call,
    body: Any,
    method: str,
    path: str,
    params: dict[str, str],
    sent: Any,
    model: type,
) -> None:
    fake.add(reply(body=body))
    result = await call(aclient)
    request = fake.last
    assert request.method == method
    assert request.url.raw_path.split(b"?")[0].decode() == path
    assert dict(request.url.params) == params
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["version"] == "2026-04-25"
    assert request.headers["user-agent"].startswith("ehrconnect-client-python/")
    if method in ("POST", "PUT", "DELETE"):
        assert request.headers["content-type"] == "application/json"
    else:
        assert "content-type" not in request.headers
    if method == "POST":
        assert request.headers["idempotency-key"]
    if sent is None:
        assert request.content == b""
    else:
        assert fake.json() == sent
    assert isinstance(result, model)


async def test_async_retries_with_awaited_sleep(aclient: AsyncClient, fake: FakeAPI, sleeps: list[float]) -> None:
    fake.add(
        httpx.ConnectError("refused"),
        error_reply(429, "rate_limit_error", "throttled", headers={"Retry-After": "2"}),
        reply(503, {}),
        reply(body=patient_json()),
    )
    patient = await aclient.patients.create("user_42")
    assert patient.id == "user_42"
    assert sleeps == [0.375, 2.0, 1.125]
    assert len({r.headers["idempotency-key"] for r in fake.requests}) == 1


async def test_async_errors(aclient: AsyncClient, fake: FakeAPI, sleeps: list[float]) -> None:
    fake.add(error_reply(404, "not_found_error", "resource_not_found", param="id"))
    with pytest.raises(NotFoundError) as info:
        await aclient.sessions.retrieve("sess_missing")
    assert info.value.code == "resource_not_found"
    fake.add(error_reply(500, "api_error", "internal_error"))
    with pytest.raises(APIServerError):
        await aclient.health()
    fake.add(*[httpx.ConnectError("down")] * 2)
    with pytest.raises(APIConnectionError):
        await aclient.health(max_retries=1)
    assert sleeps == [0.375]


async def test_async_post_without_key_not_retried(fake: FakeAPI) -> None:
    async with AsyncClient(
        API_KEY,
        base_url="https://x.test",
        transport=httpx.MockTransport(fake.handler),
        auto_idempotency_keys=False,
    ) as c:
        fake.add(reply(502, {}))
        with pytest.raises(APIServerError):
            await c.sessions.create(patient_id="u", return_url="https://a.test/")
    assert len(fake.requests) == 1


async def test_async_with_options_and_close(fake: FakeAPI) -> None:
    c = AsyncClient(API_KEY, base_url="https://x.test", transport=httpx.MockTransport(fake.handler))
    other = c.with_options(max_retries=0)
    fake.add(reply(503, {}))
    with pytest.raises(APIServerError):
        await other.health()
    await other.aclose()
    assert not c._http.is_closed
    await c.close()
    assert c._http.is_closed
