"""AsyncClient against the real app in-process (httpx.ASGITransport): every wire shape the SDK
models is produced by the server and parsed without loss."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from ehrconnect_client import (
    AsyncClient,
    AuthenticationError,
    ConflictError,
    DeletedPatient,
    FhirSource,
    InvalidRequestError,
    NotFoundError,
    Patient,
    PatientDetail,
    Session,
    active_connections,
)


async def test_health(aclient: AsyncClient) -> None:
    health = await aclient.health()
    assert health.ok is True
    assert health.server_time.utcoffset() is not None
    assert health.last_response is not None and health.last_response.request_id


async def test_patient_lifecycle(aclient: AsyncClient) -> None:
    created = await aclient.patients.create(
        "user_1", email="jane@example.com", name="Jane Roe", metadata={"plan": "gold"}
    )
    assert isinstance(created, Patient)
    assert (created.id, created.email, created.name, created.metadata) == (
        "user_1",
        "jane@example.com",
        "Jane Roe",
        {"plan": "gold"},
    )
    assert created.last_response is not None and created.last_response.api_version == "2026-04-25"

    detail = await aclient.patients.retrieve("user_1")
    assert isinstance(detail, PatientDetail)
    assert detail.connections == []
    assert detail.created_at == created.created_at

    replaced = await aclient.patients.update("user_1", email="new@example.com")
    assert replaced.email == "new@example.com"
    assert replaced.name is None and replaced.metadata == {}  # full replace clears the rest

    page = await aclient.patients.list(email="new@example.com")
    assert [p.id for p in page.data] == ["user_1"]

    tomb = await aclient.patients.delete("user_1")
    assert isinstance(tomb, DeletedPatient)
    assert (tomb.id, tomb.resource_type, tomb.deleted) == ("user_1", "patient", True)

    with pytest.raises(NotFoundError) as info:
        await aclient.patients.retrieve("user_1")
    err = info.value
    assert err.code == "resource_not_found" and err.type == "not_found_error"
    assert err.request_id and err.request_id == err.headers.get("x-request-id")
    assert err.doc_url and err.doc_url.endswith("#resource_not_found")


async def test_duplicate_patient_is_conflict(aclient: AsyncClient) -> None:
    await aclient.patients.create("dup")
    with pytest.raises(ConflictError) as info:
        await aclient.patients.create("dup")
    assert info.value.code == "external_id_already_exists"
    assert info.value.http_status == 409


async def test_reserved_prefix_is_invalid(aclient: AsyncClient) -> None:
    with pytest.raises(InvalidRequestError) as info:
        await aclient.patients.create("conn_123")
    assert info.value.code == "invalid_data"
    assert info.value.param == "patient_id"


async def test_auto_paging_over_real_cursors(aclient: AsyncClient) -> None:
    ids = [f"p{i}" for i in range(7)]
    for pid in ids:
        await aclient.patients.create(pid)
    page = await aclient.patients.list(limit=3)
    assert page.has_more and page.next_cursor
    seen = [p.id async for p in page.auto_paging_aiter()]
    assert sorted(seen) == sorted(ids)
    assert len(seen) == len(set(seen)) == 7
    assert seen == [p.id async for p in aclient.patients.iter_all(limit=2)]


async def test_bad_cursor_is_invalid_request(aclient: AsyncClient) -> None:
    with pytest.raises(InvalidRequestError) as info:
        await aclient.patients.list(starting_after="not-a-real-cursor")
    assert info.value.param == "starting_after"


async def test_idempotent_replay_and_reuse(aclient: AsyncClient) -> None:
    key = str(uuid.uuid4())
    first = await aclient.patients.create("idem_1", name="A", idempotency_key=key)
    again = await aclient.patients.create("idem_1", name="A", idempotency_key=key)
    assert first.last_response is not None and not first.last_response.idempotent_replayed
    assert again.last_response is not None and again.last_response.idempotent_replayed
    assert again.model_dump() == first.model_dump()
    with pytest.raises(ConflictError) as info:
        await aclient.patients.create("idem_1", name="B", idempotency_key=key)
    assert info.value.code == "idempotency_key_reused"


async def test_authentication_errors(make_aclient: Callable[..., Any]) -> None:
    bad = await make_aclient("mb_sk_sbx_not_a_real_key")
    with pytest.raises(AuthenticationError) as info:
        await bad.patients.list()
    assert info.value.code == "invalid_api_key"
    assert info.value.http_status == 401


async def test_unsupported_version(make_aclient: Callable[..., Any]) -> None:
    client = await make_aclient(api_version="1999-01-01")
    with pytest.raises(InvalidRequestError) as info:
        await client.patients.list()
    assert info.value.code == "unsupported_api_version"
    assert info.value.param == "Version"


async def test_tenants_are_isolated(make_aclient: Callable[..., Any], mint_key: Any) -> None:
    acme = await make_aclient(await mint_key("acme", "sandbox"))
    other = await make_aclient(await mint_key("other", "sandbox"))
    await acme.patients.create("shared_id")
    with pytest.raises(NotFoundError):
        await other.patients.retrieve("shared_id")


async def test_catalog_list_and_retrieve_by_id_and_url(aclient: AsyncClient) -> None:
    sources = [s async for s in aclient.connections.iter_all(limit=2)]
    assert sources and all(isinstance(s, FhirSource) for s in sources)
    assert len({s.id for s in sources}) == len(sources)
    first = sources[0]
    assert first.id.startswith("fhirsrc_")
    by_id = await aclient.connections.retrieve(first.id)
    by_url = await aclient.connections.retrieve(first.fhir_base_url)
    assert by_id.id == by_url.id == first.id
    with pytest.raises(NotFoundError):
        await aclient.connections.retrieve("https://nowhere.example.com/fhir/R4")


async def test_sessions_picker_and_direct(aclient: AsyncClient) -> None:
    source = (await aclient.connections.list(limit=1)).data[0]
    picker = await aclient.sessions.create(
        patient_id="user_sess",
        return_url="https://app.example.com/back?tab=ehr",
        patient_email="jane@example.com",
        recommended_connection_ids=[source.id],
        return_button_label="Acme",
        expires_in=600,
        metadata={"k": "v"},
    )
    assert isinstance(picker, Session)
    assert picker.status == "open" and picker.id.startswith("sess_")
    assert picker.recommended_connection_ids == [source.id]
    assert (picker.expires_at - picker.created_at).total_seconds() == 600
    assert picker.metadata == {"k": "v"}
    assert active_connections(picker) == []

    direct = await aclient.sessions.create(
        patient_id="user_sess", return_url="https://app.example.com/back", connection_id=source.fhir_base_url
    )
    assert direct.connection_id == source.id

    fetched = await aclient.sessions.retrieve(picker.id)
    assert fetched.model_dump() == picker.model_dump()

    sessions = [s.id async for s in (await aclient.patients.list_sessions("user_sess", limit=1)).auto_paging_aiter()]
    assert sorted(sessions) == sorted([picker.id, direct.id])
    open_page = await aclient.patients.list_sessions("user_sess", status="open")
    assert len(open_page.data) == 2

    # The session upserted the patient with the email it was given.
    assert (await aclient.patients.retrieve("user_sess")).email == "jane@example.com"


async def test_session_validation_errors(aclient: AsyncClient) -> None:
    with pytest.raises(InvalidRequestError) as info:
        await aclient.sessions.create(patient_id="u", return_url="http://evil.example.com/back")
    assert info.value.param == "return_url"
    with pytest.raises(NotFoundError):
        await aclient.sessions.create(
            patient_id="u", return_url="https://app.example.com/", connection_id="fhirsrc_01J9YR9N3X4VZ6P2K5RH7M3LMP"
        )


async def test_disconnect_unknown_connection(aclient: AsyncClient) -> None:
    await aclient.patients.create("disc_user")
    with pytest.raises(NotFoundError):
        await aclient.patients.disconnect("disc_user", "conn_01J9YR9N3X4VZ6P2K5RH7M3LMP")
