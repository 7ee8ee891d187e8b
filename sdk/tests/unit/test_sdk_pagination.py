"""Auto-paging over ``starting_after`` / ``next_cursor`` for every list, sync and async."""

from __future__ import annotations

import pytest
from ehrconnect_client import APIResponseValidationError, AsyncClient, Client, ListPage, Patient
from sdk_fakes import FakeAPI, list_json, patient_json, reply, source_json


def records_page(ids: list[str], next_cursor: str | None, previous_cursor: str | None = None) -> dict[str, object]:
    data = [{"source": "fhirsrc_1", "resource": {"resourceType": "Observation", "id": i}} for i in ids]
    return list_json(data, next_cursor=next_cursor, patient_id="user_42", previous_cursor=previous_cursor)


def three_patient_pages(fake: FakeAPI) -> None:
    fake.add(
        reply(body=list_json([patient_json("p5"), patient_json("p4")], next_cursor="c1")),
        reply(body=list_json([patient_json("p3"), patient_json("p2")], next_cursor="c2")),
        reply(body=list_json([patient_json("p1")])),
    )


def test_auto_paging_iter_walks_all_pages_keeping_filters(client: Client, fake: FakeAPI) -> None:
    three_patient_pages(fake)
    page = client.patients.list(limit=2, email="jane@example.com")
    ids = [p.id for p in page.auto_paging_iter()]
    assert ids == ["p5", "p4", "p3", "p2", "p1"]
    params = [dict(r.url.params) for r in fake.requests]
    assert params == [
        {"limit": "2", "email": "jane@example.com"},
        {"limit": "2", "email": "jane@example.com", "starting_after": "c1"},
        {"limit": "2", "email": "jane@example.com", "starting_after": "c2"},
    ]


def test_auto_paging_is_lazy(client: Client, fake: FakeAPI) -> None:
    three_patient_pages(fake)
    it = client.patients.list(limit=2).auto_paging_iter()
    assert [next(it).id, next(it).id] == ["p5", "p4"]
    assert len(fake.requests) == 1
    assert next(it).id == "p3"
    assert len(fake.requests) == 2


def test_iter_all(client: Client, fake: FakeAPI) -> None:
    three_patient_pages(fake)
    assert [p.id for p in client.patients.iter_all(limit=2)] == ["p5", "p4", "p3", "p2", "p1"]
    assert fake.remaining() == 0


def test_single_page_makes_one_request(client: Client, fake: FakeAPI) -> None:
    fake.add(reply(body=list_json([patient_json("p1")])))
    assert [p.id for p in client.patients.iter_all()] == ["p1"]
    assert len(fake.requests) == 1


def test_has_more_false_stops_even_with_cursor(client: Client, fake: FakeAPI) -> None:
    body = list_json([patient_json("p1")])
    body["next_cursor"] = "dangling"
    fake.add(reply(body=body))
    assert len(list(client.patients.list().auto_paging_iter())) == 1
    assert len(fake.requests) == 1


def test_connections_iter_all(client: Client, fake: FakeAPI) -> None:
    fake.add(
        reply(body=list_json([source_json("fhirsrc_a")], next_cursor="n1")),
        reply(body=list_json([source_json("fhirsrc_b")])),
    )
    assert [s.id for s in client.connections.iter_all(q="ep", type="epic")] == ["fhirsrc_a", "fhirsrc_b"]
    assert dict(fake.last.url.params) == {"q": "ep", "type": "epic", "starting_after": "n1"}


def test_sessions_list_auto_paging(client: Client, fake: FakeAPI) -> None:
    from sdk_fakes import session_json

    fake.add(
        reply(body=list_json([session_json("sess_2")], next_cursor="s1")),
        reply(body=list_json([session_json("sess_1")])),
    )
    page = client.patients.list_sessions("user_42", status="open")
    assert [s.id for s in page.auto_paging_iter()] == ["sess_2", "sess_1"]
    assert fake.last.url.path == "/patients/user_42/sessions"
    assert dict(fake.last.url.params) == {"status": "open", "starting_after": "s1"}


def test_records_auto_paging_uses_next_cursor_and_count(client: Client, fake: FakeAPI) -> None:
    fake.add(
        reply(body=records_page(["o1", "o2"], "aB3xK9mQp2Lz")),
        reply(body=records_page(["o3"], None, previous_cursor="zzzzzzzzzzzz")),
    )
    records = list(client.patients.iter_records("user_42", type=["Observation"], count=2))
    assert [r.resource["id"] for r in records] == ["o1", "o2", "o3"]
    assert dict(fake.last.url.params) == {"type": "Observation", "count": "2", "starting_after": "aB3xK9mQp2Lz"}


def test_records_auto_paging_from_ending_before_moves_forward(client: Client, fake: FakeAPI) -> None:
    fake.add(reply(body=records_page(["o1"], "fwd1", "back1")), reply(body=records_page(["o2"], None)))
    page = client.patients.records("user_42", ending_before="xyz", count=1)
    assert page.previous_cursor == "back1"
    assert [r.resource["id"] for r in page.auto_paging_iter()] == ["o1", "o2"]
    # The follow-up request drops ending_before: one direction at a time.
    assert dict(fake.last.url.params) == {"count": "1", "starting_after": "fwd1"}


def test_cursor_that_does_not_advance_is_an_error(client: Client, fake: FakeAPI) -> None:
    fake.add(
        reply(body=list_json([patient_json("p1")], next_cursor="same")),
        reply(body=list_json([patient_json("p2")], next_cursor="same")),
    )
    with pytest.raises(APIResponseValidationError, match="did not advance"):
        list(client.patients.list().auto_paging_iter())


def test_hand_built_page_yields_its_own_items() -> None:
    page = ListPage[Patient].model_validate(list_json([patient_json("p1")], next_cursor="c1"))
    assert [p.id for p in page.auto_paging_iter()] == ["p1"]


async def test_sync_page_refuses_async_iteration(client: Client, fake: FakeAPI) -> None:
    fake.add(reply(body=list_json([])))
    page = client.patients.list()
    with pytest.raises(TypeError, match="auto_paging_iter"):
        async for _ in page.auto_paging_aiter():
            pass


def test_errors_mid_iteration_propagate(client: Client, fake: FakeAPI) -> None:
    from ehrconnect_client import InvalidRequestError
    from sdk_fakes import error_reply

    fake.add(
        reply(body=list_json([patient_json("p1")], next_cursor="bad")),
        error_reply(400, "invalid_request_error", "invalid_data", param="starting_after"),
    )
    it = client.patients.list().auto_paging_iter()
    assert next(it).id == "p1"
    with pytest.raises(InvalidRequestError) as info:
        next(it)
    assert info.value.param == "starting_after"


# -- async -------------------------------------------------------------------------------------


async def test_async_auto_paging(aclient: AsyncClient, fake: FakeAPI) -> None:
    three_patient_pages(fake)
    page = await aclient.patients.list(limit=2)
    ids = [p.id async for p in page.auto_paging_aiter()]
    assert ids == ["p5", "p4", "p3", "p2", "p1"]
    assert dict(fake.last.url.params) == {"limit": "2", "starting_after": "c2"}


async def test_async_iter_all_and_records(aclient: AsyncClient, fake: FakeAPI) -> None:
    three_patient_pages(fake)
    assert [p.id async for p in aclient.patients.iter_all(limit=2)] == ["p5", "p4", "p3", "p2", "p1"]
    fake.add(reply(body=records_page(["o1"], "r1")), reply(body=records_page(["o2"], None)))
    ids = [r.resource["id"] async for r in aclient.patients.iter_records("user_42", count=1)]
    assert ids == ["o1", "o2"]
    assert dict(fake.last.url.params) == {"count": "1", "starting_after": "r1"}


async def test_async_connections_iter_all(aclient: AsyncClient, fake: FakeAPI) -> None:
    fake.add(reply(body=list_json([source_json("a")], next_cursor="n")), reply(body=list_json([source_json("b")])))
    assert [s.id async for s in aclient.connections.iter_all()] == ["a", "b"]


async def test_async_page_refuses_sync_iteration(aclient: AsyncClient, fake: FakeAPI) -> None:
    fake.add(reply(body=list_json([])))
    page = await aclient.patients.list()
    with pytest.raises(TypeError, match="auto_paging_aiter"):
        next(page.auto_paging_iter())
