"""Every sync method: the exact request sent and the parsing of the response."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone

import httpx
import pytest
from ehrconnect_client import (
    DEFAULT_API_VERSION,
    Client,
    DeletedPatient,
    DisconnectedConnection,
    FhirSource,
    Health,
    ListPage,
    Patient,
    PatientDetail,
    RecordsPage,
    Session,
    SyncRequested,
    SyncRun,
    __version__,
)
from sdk_fakes import (
    API_KEY,
    TS,
    FakeAPI,
    list_json,
    patient_connection_json,
    patient_json,
    reply,
    session_json,
    source_json,
)

WHEN = datetime(2026, 4, 25, 14, 30, tzinfo=UTC)


def assert_common_headers(request: httpx.Request, *, write: bool) -> None:
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["version"] == DEFAULT_API_VERSION
    assert request.headers["user-agent"].startswith(f"ehrconnect-client-python/{__version__} ")
    assert request.headers["accept"] == "application/json"
    if write:
        assert request.headers["content-type"] == "application/json"
    else:
        assert "content-type" not in request.headers
        assert request.content == b""


def test_health(client: Client, fake: FakeAPI) -> None:
    fake.add(reply(body={"ok": True, "server_time": TS}))
    health = client.health()
    assert isinstance(health, Health)
    assert health.ok is True
    assert health.server_time == WHEN
    assert fake.last.method == "GET"
    assert fake.last.url == "https://api.example.test/health"
    assert_common_headers(fake.last, write=False)


def test_patients_create(client: Client, fake: FakeAPI) -> None:
    fake.add(reply(body=patient_json()))
    patient = client.patients.create("user_42", email="jane@example.com", name="Jane Roe", metadata={"plan": "gold"})
    request = fake.last
    assert (request.method, request.url.path) == ("POST", "/patients")
    assert_common_headers(request, write=True)
    assert fake.json() == {
        "patient_id": "user_42",
        "email": "jane@example.com",
        "name": "Jane Roe",
        "metadata": {"plan": "gold"},
    }
    assert request.headers["idempotency-key"]
    assert isinstance(patient, Patient)
    assert patient.id == "user_42"
    assert patient.metadata == {"plan": "gold"}
    assert patient.created_at == WHEN


def test_patients_create_minimal_body_and_own_idempotency_key(client: Client, fake: FakeAPI) -> None:
    fake.add(reply(body=patient_json(email=None, name=None, metadata={})))
    client.patients.create("user_42", idempotency_key="my-key-1")
    assert fake.json() == {"patient_id": "user_42"}
    assert fake.last.headers["idempotency-key"] == "my-key-1"


def test_each_post_call_gets_a_fresh_idempotency_key(client: Client, fake: FakeAPI) -> None:
    fake.add(reply(body=patient_json()), reply(body=patient_json("user_43")))
    client.patients.create("user_42")
    client.patients.create("user_43")
    keys = [r.headers["idempotency-key"] for r in fake.requests]
    assert keys[0] != keys[1]


def test_patients_retrieve(client: Client, fake: FakeAPI) -> None:
    fake.add(
        reply(
            body=patient_json(
                connections=[patient_connection_json(), patient_connection_json("conn_2", status="failed")]
            )
        )
    )
    detail = client.patients.retrieve("user_42")
    assert (fake.last.method, fake.last.url.path) == ("GET", "/patients/user_42")
    assert_common_headers(fake.last, write=False)
    assert isinstance(detail, PatientDetail)
    assert [c.status for c in detail.connections] == ["active", "failed"]
    assert detail.connections[0].scopes == ["patient/*.read", "offline_access"]
    assert detail.connections[0].session_id == "sess_01J9YQ8M2X4VZ6P2K5RH7M3KQT"


def test_path_ids_are_fully_percent_encoded(client: Client, fake: FakeAPI) -> None:
    fake.add(reply(body=patient_json("a/b c?d")), reply(body=patient_json("..")))
    client.patients.retrieve("a/b c?d")
    assert fake.last.url.raw_path == b"/patients/a%2Fb%20c%3Fd"
    client.patients.retrieve("..")
    assert fake.last.url.raw_path == b"/patients/%2E%2E"


@pytest.mark.parametrize("bad", ["", None])
def test_empty_ids_are_refused_before_sending(client: Client, fake: FakeAPI, bad: object) -> None:
    # An empty id would otherwise turn "GET /patients/{id}" into the list route.
    with pytest.raises(ValueError, match="patient_id"):
        client.patients.retrieve(bad)  # type: ignore[arg-type]
    assert fake.requests == []


def test_patients_update_is_full_replace(client: Client, fake: FakeAPI) -> None:
    fake.add(reply(body=patient_json(name=None, metadata={})))
    patient = client.patients.update("user_42", email="new@example.com")
    assert (fake.last.method, fake.last.url.path) == ("PUT", "/patients/user_42")
    assert_common_headers(fake.last, write=True)
    assert fake.json() == {"patient_id": "user_42", "email": "new@example.com"}
    assert "idempotency-key" not in fake.last.headers
    assert patient.name is None


def test_patients_delete(client: Client, fake: FakeAPI) -> None:
    fake.add(reply(body={"id": "user_42", "resource_type": "patient", "deleted": True}))
    tomb = client.patients.delete("user_42")
    assert (fake.last.method, fake.last.url.path) == ("DELETE", "/patients/user_42")
    assert_common_headers(fake.last, write=True)
    assert fake.last.content == b""
    assert isinstance(tomb, DeletedPatient)
    assert (tomb.id, tomb.deleted) == ("user_42", True)


def test_patients_list_with_filters(client: Client, fake: FakeAPI) -> None:
    fake.add(reply(body=list_json([patient_json()])))
    page = client.patients.list(limit=5, starting_after="cur_1", email="jane@example.com", patient_id="user_42")
    assert fake.last.url.path == "/patients"
    assert dict(fake.last.url.params) == {
        "limit": "5",
        "starting_after": "cur_1",
        "email": "jane@example.com",
        "patient_id": "user_42",
    }
    assert isinstance(page, ListPage)
    assert page.resource_type == "list"
    assert [p.id for p in page.data] == ["user_42"]
    assert isinstance(page.data[0], Patient)
    assert page.has_more is False and page.next_cursor is None


def test_patients_list_without_params_sends_no_query(client: Client, fake: FakeAPI) -> None:
    fake.add(reply(body=list_json([])))
    client.patients.list()
    assert fake.last.url.query == b""


def test_patients_list_sessions(client: Client, fake: FakeAPI) -> None:
    fake.add(reply(body=list_json([session_json()])))
    page = client.patients.list_sessions("user_42", status="complete", limit=2)
    assert fake.last.url.path == "/patients/user_42/sessions"
    assert dict(fake.last.url.params) == {"status": "complete", "limit": "2"}
    assert isinstance(page.data[0], Session)


def test_patients_disconnect(client: Client, fake: FakeAPI) -> None:
    fake.add(reply(body={"id": "conn_1", "resource_type": "connection", "disconnected": True}))
    tomb = client.patients.disconnect("user_42", "conn_1")
    assert (fake.last.method, fake.last.url.path) == ("DELETE", "/patients/user_42/connections/conn_1")
    assert_common_headers(fake.last, write=True)
    assert isinstance(tomb, DisconnectedConnection)
    assert tomb.disconnected is True


def test_patients_records_params(client: Client, fake: FakeAPI) -> None:
    fake.add(
        reply(
            body=list_json(
                [{"source": "fhirsrc_1", "resource": {"resourceType": "Observation", "id": "o1"}}],
                next_cursor="aB3xK9mQp2Lz",
                patient_id="user_42",
                previous_cursor=None,
            )
        )
    )
    since = datetime(2026, 4, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    page = client.patients.records(
        "user_42", type=["Observation", "Condition"], since=since, count=50, ending_before="zz"
    )
    assert fake.last.url.path == "/patients/user_42/records"
    assert dict(fake.last.url.params) == {
        "type": "Observation,Condition",
        "since": "2026-04-01T10:00:00.000Z",
        "count": "50",
        "ending_before": "zz",
    }
    assert isinstance(page, RecordsPage)
    assert page.patient_id == "user_42"
    assert page.next_cursor == "aB3xK9mQp2Lz"
    assert page.data[0].fhir_type == "Observation"
    assert page.data[0].source == "fhirsrc_1"


def test_records_type_string_and_date_since(client: Client, fake: FakeAPI) -> None:
    fake.add(reply(body=list_json([], patient_id="user_42", previous_cursor=None)))
    client.patients.records("user_42", type="Condition", since=date(2026, 1, 2))
    assert dict(fake.last.url.params) == {"type": "Condition", "since": "2026-01-02"}


def test_records_refuses_naive_since(client: Client, fake: FakeAPI) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        client.patients.records("user_42", since=datetime(2026, 1, 1))
    assert fake.requests == []


def test_patients_list_sync_runs(client: Client, fake: FakeAPI) -> None:
    run = {
        "id": "sync_1",
        "resource_type": "sync_run",
        "connection_id": "conn_1",
        "status": "succeeded",
        "started_at": TS,
        "finished_at": None,
        "duration_ms": 1234,
        "counts": {"Observation": 10},
        "errors": [{"resource_type": "Condition", "message": "x"}],
        "mode": "initial",
        "future_field": {"nested": True},
    }
    fake.add(reply(body=list_json([run, {"id": "sync_0"}])))
    page = client.patients.list_sync_runs("user_42", "conn_1", limit=3)
    assert fake.last.url.path == "/patients/user_42/connections/conn_1/sync-runs"
    assert dict(fake.last.url.params) == {"limit": "3"}
    first, second = page.data
    assert isinstance(first, SyncRun)
    assert first.counts == {"Observation": 10}
    assert first.started_at == WHEN
    assert first.model_extra == {"future_field": {"nested": True}}
    assert second.status is None and second.counts == {}


def test_sessions_create_picker(client: Client, fake: FakeAPI) -> None:
    fake.add(reply(body=session_json()))
    session = client.sessions.create(
        patient_id="user_42",
        return_url="https://app.example.com/connected",
        patient_email="jane@example.com",
        patient_name="Jane Roe",
        recommended_connection_ids=("fhirsrc_02Zh2bnvRoWQJYgOAkI0Twcc",),
        return_button_label="Acme Health",
        expires_in=1800,
        metadata={"signup_source": "checkout"},
    )
    assert (fake.last.method, fake.last.url.path) == ("POST", "/sessions")
    assert_common_headers(fake.last, write=True)
    assert fake.json() == {
        "patient_id": "user_42",
        "return_url": "https://app.example.com/connected",
        "patient_email": "jane@example.com",
        "patient_name": "Jane Roe",
        "recommended_connection_ids": ["fhirsrc_02Zh2bnvRoWQJYgOAkI0Twcc"],
        "return_button_label": "Acme Health",
        "expires_in": 1800,
        "metadata": {"signup_source": "checkout"},
    }
    assert fake.last.headers["idempotency-key"]
    assert session.id.startswith("sess_")
    assert session.url.endswith("/c/9c9b6f7a8e4f4a3b9c1e6f3a2d8b7c4d")
    assert session.expires_at - session.created_at == timedelta(minutes=30)


def test_sessions_create_direct(client: Client, fake: FakeAPI) -> None:
    fake.add(reply(body=session_json(connection_id="fhirsrc_1", recommended_connection_ids=None)))
    session = client.sessions.create(patient_id="u", return_url="https://a.example/r", connection_id="fhirsrc_1")
    assert fake.json() == {
        "patient_id": "u",
        "return_url": "https://a.example/r",
        "connection_id": "fhirsrc_1",
    }
    assert session.connection_id == "fhirsrc_1"
    assert session.recommended_connection_ids is None


def test_sessions_retrieve(client: Client, fake: FakeAPI) -> None:
    conns = [
        {
            "id": None,
            "connection_id": "fhirsrc_1",
            "status": "failed",
            "failure_code": "user_denied",
            "failure_at": TS,
            "created_at": TS,
        },
        {
            "id": "conn_1",
            "connection_id": "fhirsrc_2",
            "status": "active",
            "failure_code": None,
            "failure_at": None,
            "created_at": TS,
        },
    ]
    fake.add(reply(body=session_json(status="complete", connections=conns)))
    session = client.sessions.retrieve("sess_01J9YQ8M2X4VZ6P2K5RH7M3KQT")
    assert (fake.last.method, fake.last.url.path) == ("GET", "/sessions/sess_01J9YQ8M2X4VZ6P2K5RH7M3KQT")
    assert session.status == "complete"
    assert session.connections[0].id is None
    assert session.connections[0].failure_at == WHEN


def test_connections_list(client: Client, fake: FakeAPI) -> None:
    fake.add(reply(body=list_json([source_json()], next_cursor="c2")))
    page = client.connections.list(q="epic", type="epic", limit=20)
    assert fake.last.url.path == "/connections"
    assert dict(fake.last.url.params) == {"q": "epic", "type": "epic", "limit": "20"}
    assert isinstance(page.data[0], FhirSource)
    assert page.has_more and page.next_cursor == "c2"


def test_connections_retrieve_by_id(client: Client, fake: FakeAPI) -> None:
    fake.add(reply(body=source_json()))
    source = client.connections.retrieve("fhirsrc_01J9YR9N3X4VZ6P2K5RH7M3LMP")
    assert fake.last.url.raw_path == b"/connections/fhirsrc_01J9YR9N3X4VZ6P2K5RH7M3LMP"
    assert source.fhir_base_url.startswith("https://fhir.epic.com/")


def test_connections_retrieve_by_base_url_encodes_slashes(client: Client, fake: FakeAPI) -> None:
    fake.add(reply(body=source_json()))
    client.connections.retrieve("https://fhir.epic.com/interconnect-fhir-oauth/api/FHIR/R4")
    assert (
        fake.last.url.raw_path
        == b"/connections/https%3A%2F%2Ffhir.epic.com%2Finterconnect-fhir-oauth%2Fapi%2FFHIR%2FR4"
    )


def test_base_url_path_prefix_is_kept(make_client, fake: FakeAPI) -> None:  # type: ignore[no-untyped-def]
    c = make_client(base_url="https://gw.example.test/ehr/v1/")
    fake.add(reply(body={"ok": True, "server_time": TS}))
    c.health()
    assert str(fake.last.url) == "https://gw.example.test/ehr/v1/health"


def test_custom_version_and_extra_headers(make_client, fake: FakeAPI) -> None:  # type: ignore[no-untyped-def]
    c = make_client(api_version="2027-01-01", default_headers={"X-Trace": "t1"})
    fake.add(reply(body={"ok": True, "server_time": TS}))
    c.health(extra_headers={"X-Call": "c1"})
    assert fake.last.headers["version"] == "2027-01-01"
    assert fake.last.headers["x-trace"] == "t1"
    assert fake.last.headers["x-call"] == "c1"


def test_response_info_is_attached(client: Client, fake: FakeAPI) -> None:
    fake.add(
        reply(
            body=patient_json(),
            request_id="rid-1",
            headers={"Idempotent-Replayed": "true"},
        ),
        reply(body=list_json([]), request_id="rid-2"),
    )
    patient = client.patients.create("user_42")
    assert patient.last_response is not None
    assert patient.last_response.request_id == "rid-1"
    assert patient.last_response.idempotent_replayed is True
    assert patient.last_response.api_version == "2026-04-25"
    page = client.patients.list()
    assert page.last_response is not None and page.last_response.request_id == "rid-2"
    assert page.last_response.idempotent_replayed is False


def test_per_call_timeout_reaches_transport(client: Client, fake: FakeAPI) -> None:
    fake.add(reply(body={"ok": True, "server_time": TS}), reply(body={"ok": True, "server_time": TS}))
    client.health(timeout=2.5)
    assert fake.last.extensions["timeout"] == {"connect": 2.5, "read": 2.5, "write": 2.5, "pool": 2.5}
    client.health()
    assert fake.last.extensions["timeout"]["connect"] == 10.0
    assert fake.last.extensions["timeout"]["read"] == 60.0


def test_body_is_compact_utf8_json(client: Client, fake: FakeAPI) -> None:
    fake.add(reply(body=patient_json(name="Zoë")))
    client.patients.create("user_42", name="Zoë")
    assert json.loads(fake.last.content.decode("utf-8"))["name"] == "Zoë"


def test_context_manager_closes_owned_pool(fake: FakeAPI) -> None:
    with Client(API_KEY, base_url="https://x.test", transport=httpx.MockTransport(fake.handler)) as c:
        pass
    assert c._http.is_closed


def test_supplied_http_client_is_not_closed(fake: FakeAPI) -> None:
    http = httpx.Client(transport=httpx.MockTransport(fake.handler))
    with Client(API_KEY, base_url="https://x.test", http_client=http):
        pass
    assert not http.is_closed
    http.close()


def test_patients_request_sync(client: Client, fake: FakeAPI) -> None:
    fake.add(reply(body={"id": "conn_1", "resource_type": "connection", "sync_requested": True}))
    answer = client.patients.request_sync("user_42", "conn_1")
    assert (fake.last.method, fake.last.url.path) == ("POST", "/patients/user_42/connections/conn_1/sync")
    assert_common_headers(fake.last, write=True)
    assert fake.json() == {}
    assert fake.last.headers["idempotency-key"]
    assert isinstance(answer, SyncRequested)
    assert (answer.id, answer.sync_requested) == ("conn_1", True)


def test_fhir_source_matched_name(client: Client, fake: FakeAPI) -> None:
    fake.add(reply(body=list_json([{**source_json(), "matched_name": "MyChart"}])))
    assert client.connections.list(q="mychart").data[0].matched_name == "MyChart"
