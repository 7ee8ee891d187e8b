"""Retry policy (pure) and the client's retry loop under an injected clock."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from ehrconnect_client import (
    APIConnectionError,
    APIServerError,
    Client,
    ConflictError,
    EHRError,
    InvalidRequestError,
    RateLimitError,
    RetryPolicy,
)
from ehrconnect_client._retry import decide, method_is_retryable, parse_retry_after, status_is_retryable
from sdk_fakes import TS, FakeAPI, error_reply, patient_json, reply, session_json

NOW = 1_700_000_000.0


# -- pure policy -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("retry_number", "low", "high"), [(0, 0.25, 0.5), (1, 0.5, 0.75), (2, 1.0, 1.25), (3, 2.0, 2.25)]
)
def test_backoff_windows_match_medblocks(retry_number: int, low: float, high: float) -> None:
    policy = RetryPolicy()
    assert policy.backoff(retry_number, 0.0) == pytest.approx(low)
    assert policy.backoff(retry_number, 0.999999) == pytest.approx(high, abs=1e-5)


def test_backoff_is_capped() -> None:
    assert RetryPolicy(max_delay=3.0).backoff(10, 0.0) == 3.0


def test_policy_defaults() -> None:
    policy = RetryPolicy()
    assert policy.max_retries == 3


def test_policy_rejects_negative_values() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_retries=-1)
    with pytest.raises(ValueError):
        RetryPolicy(jitter=-0.1)


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_retryable_statuses(status: int) -> None:
    assert status_is_retryable(status)


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 405, 409, 413, 422, 500, 501])
def test_non_retryable_statuses(status: int) -> None:
    assert not status_is_retryable(status)
    d = decide(RetryPolicy(), method="GET", has_idempotency_key=False, retries_done=0, rand=0.0, status=status)
    assert not d.retry


@pytest.mark.parametrize(
    ("method", "key", "expected"),
    [
        ("GET", False, True),
        ("HEAD", False, True),
        ("PUT", False, True),
        ("DELETE", False, True),
        ("POST", False, False),
        ("POST", True, True),
        ("PATCH", False, False),
    ],
)
def test_method_rules(method: str, key: bool, expected: bool) -> None:
    assert method_is_retryable(method, has_idempotency_key=key) is expected


def test_decide_counts_retries() -> None:
    p = RetryPolicy(max_retries=2)
    kw = {"method": "GET", "has_idempotency_key": False, "rand": 0.0, "status": 503}
    assert decide(p, retries_done=0, **kw).retry  # type: ignore[arg-type]
    assert decide(p, retries_done=1, **kw).retry  # type: ignore[arg-type]
    assert not decide(p, retries_done=2, **kw).retry  # type: ignore[arg-type]


def test_decide_network_error() -> None:
    d = decide(RetryPolicy(), method="GET", has_idempotency_key=False, retries_done=1, rand=0.0)
    assert d.retry and d.delay == 0.5 and d.reason == "network error"


def test_decide_honours_retry_after() -> None:
    p = RetryPolicy()
    d = decide(p, method="GET", has_idempotency_key=False, retries_done=0, rand=0.0, status=429, retry_after=3)
    assert d.delay == 3
    # Retry-After shorter than the backoff: the backoff still applies.
    d = decide(p, method="GET", has_idempotency_key=False, retries_done=2, rand=0.0, status=429, retry_after=0.5)
    assert d.delay == 1.0
    d = decide(p, method="GET", has_idempotency_key=False, retries_done=0, rand=0.0, status=429, retry_after=600)
    assert not d.retry and "Retry-After" in d.reason


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("3", 3.0),
        (" 10 ", 10.0),
        ("0", 0.0),
        ("-5", 0.0),
        ("1.5", 1.5),
        ("soon", None),
        ("nan", None),
        ("Tue, 14 Nov 2023 22:13:40 GMT", 20.0),  # NOW + 20 s
        ("Tue, 14 Nov 2023 22:13:00 GMT", 0.0),  # in the past
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


# -- the client loop ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_reads_retry_transient_statuses(client: Client, fake: FakeAPI, sleeps: list[float], status: int) -> None:
    fake.add(reply(status, {}), reply(status, {}), reply(body=patient_json()))
    patient = client.patients.retrieve("user_42")
    assert patient.id == "user_42"
    assert len(fake.requests) == 3
    assert sleeps == [0.375, 0.625]  # jitter_source() == 0.5


def test_gives_up_after_max_retries(client: Client, fake: FakeAPI, sleeps: list[float]) -> None:
    fake.add(*[error_reply(503, "api_error", "unavailable")] * 4)
    with pytest.raises(APIServerError):
        client.patients.retrieve("user_42")
    assert len(fake.requests) == 4
    assert sleeps == [0.375, 0.625, 1.125]


def test_retry_after_is_honoured(client: Client, fake: FakeAPI, sleeps: list[float]) -> None:
    fake.add(
        error_reply(429, "rate_limit_error", "throttled", headers={"Retry-After": "4"}), reply(body=patient_json())
    )
    client.patients.retrieve("user_42")
    assert sleeps == [4.0]


def test_retry_after_http_date_uses_injected_clock(client: Client, fake: FakeAPI, sleeps: list[float]) -> None:
    fake.add(
        error_reply(429, "rate_limit_error", "throttled", headers={"Retry-After": "Tue, 14 Nov 2023 22:13:40 GMT"}),
        reply(body=patient_json()),
    )
    client.patients.retrieve("user_42")
    assert sleeps == [20.0]


def test_too_long_retry_after_raises_at_once(client: Client, fake: FakeAPI, sleeps: list[float]) -> None:
    fake.add(error_reply(429, "rate_limit_error", "throttled", headers={"Retry-After": "3600"}))
    with pytest.raises(RateLimitError) as info:
        client.patients.retrieve("user_42")
    assert info.value.retry_after == 3600
    assert sleeps == []


@pytest.mark.parametrize(
    ("status", "type_", "cls"),
    [
        (400, "invalid_request_error", InvalidRequestError),
        (500, "api_error", APIServerError),
        (409, "conflict_error", ConflictError),
    ],
)
def test_never_retries_400_409_500(
    client: Client, fake: FakeAPI, sleeps: list[float], status: int, type_: str, cls: type[Exception]
) -> None:
    fake.add(error_reply(status, type_, "x"))
    with pytest.raises(cls):
        client.patients.retrieve("user_42")
    assert len(fake.requests) == 1 and sleeps == []


def test_network_errors_are_retried_for_reads(client: Client, fake: FakeAPI, sleeps: list[float]) -> None:
    fake.add(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), reply(body=patient_json()))
    assert client.patients.retrieve("user_42").id == "user_42"
    assert sleeps == [0.375, 0.625]


def test_post_retries_reuse_one_idempotency_key(client: Client, fake: FakeAPI, sleeps: list[float]) -> None:
    fake.add(
        httpx.ConnectError("reset"), reply(502, {}), error_reply(503, "api_error", "x"), reply(body=patient_json())
    )
    client.patients.create("user_42", email="jane@example.com")
    keys = {r.headers["idempotency-key"] for r in fake.requests}
    assert len(fake.requests) == 4 and len(keys) == 1
    bodies = {r.content for r in fake.requests}
    assert len(bodies) == 1


def test_post_retries_keep_caller_key(client: Client, fake: FakeAPI) -> None:
    fake.add(reply(504, {}), reply(body=session_json()))
    client.sessions.create(patient_id="u", return_url="https://a.test/r", idempotency_key="caller-key")
    assert [r.headers["idempotency-key"] for r in fake.requests] == ["caller-key", "caller-key"]


def test_post_without_key_is_not_retried(
    make_client: Callable[..., Client], fake: FakeAPI, sleeps: list[float]
) -> None:
    c = make_client(auto_idempotency_keys=False)
    fake.add(reply(503, {}))
    with pytest.raises(APIServerError):
        c.patients.create("user_42")
    assert "idempotency-key" not in fake.last.headers
    assert len(fake.requests) == 1 and sleeps == []


def test_post_without_key_network_error_not_retried(make_client: Callable[..., Client], fake: FakeAPI) -> None:
    c = make_client(auto_idempotency_keys=False)
    fake.add(httpx.ReadError("reset"))
    with pytest.raises(APIConnectionError):
        c.patients.create("user_42")
    assert len(fake.requests) == 1


def test_put_and_delete_are_retried(client: Client, fake: FakeAPI, sleeps: list[float]) -> None:
    fake.add(reply(503, {}), reply(body=patient_json()))
    client.patients.update("user_42", name="X")
    fake.add(httpx.ConnectError("x"), reply(body={"id": "user_42", "resource_type": "patient", "deleted": True}))
    client.patients.delete("user_42")
    assert len(fake.requests) == 4
    assert all("idempotency-key" not in r.headers for r in fake.requests)


def test_ehr_error_502_is_retried_then_raised(client: Client, fake: FakeAPI) -> None:
    fake.add(*[error_reply(502, "ehr_error", "fhir_error")] * 4)
    with pytest.raises(EHRError):
        client.patients.records("user_42")
    assert len(fake.requests) == 4


def test_max_retries_per_client(make_client: Callable[..., Client], fake: FakeAPI, sleeps: list[float]) -> None:
    c = make_client(max_retries=1)
    fake.add(reply(503, {}), reply(503, {}))
    with pytest.raises(APIServerError):
        c.health()
    assert len(fake.requests) == 2 and sleeps == [0.375]


def test_max_retries_per_call(client: Client, fake: FakeAPI, sleeps: list[float]) -> None:
    fake.add(reply(503, {}))
    with pytest.raises(APIServerError):
        client.health(max_retries=0)
    assert len(fake.requests) == 1
    fake.add(*[reply(503, {})] * 5, reply(body={"ok": True, "server_time": TS}))
    assert client.health(max_retries=5).ok
    assert len(sleeps) == 5
    assert sleeps[-1] == pytest.approx(4.125)  # 0.25 * 2**4 + 0.125


def test_custom_policy(make_client: Callable[..., Client], fake: FakeAPI, sleeps: list[float]) -> None:
    c = make_client(retry_policy=RetryPolicy(max_retries=2, initial_delay=1.0, jitter=0.0))
    fake.add(reply(502, {}), reply(502, {}), reply(502, {}))
    with pytest.raises(APIServerError):
        c.health()
    assert sleeps == [1.0, 2.0]


def test_negative_per_call_retries_rejected(client: Client) -> None:
    with pytest.raises(ValueError):
        client.health(max_retries=-1)


def test_idempotency_key_in_use_is_retried_with_key() -> None:
    kw = {"retries_done": 0, "rand": 0.0, "status": 409, "code": "idempotency_key_in_use"}
    assert decide(RetryPolicy(), method="POST", has_idempotency_key=True, **kw).retry  # type: ignore[arg-type]
    assert not decide(RetryPolicy(), method="POST", has_idempotency_key=False, **kw).retry  # type: ignore[arg-type]
    other = {**kw, "code": "idempotency_key_reused"}
    assert not decide(RetryPolicy(), method="POST", has_idempotency_key=True, **other).retry  # type: ignore[arg-type]


def test_client_retries_key_in_use_then_gets_replay(client: Client, fake: FakeAPI, sleeps: list[float]) -> None:
    fake.add(
        error_reply(409, "conflict_error", "idempotency_key_in_use"),
        reply(body=patient_json(), headers={"Idempotent-Replayed": "true"}),
    )
    patient = client.patients.create("user_42")
    assert patient.last_response is not None and patient.last_response.idempotent_replayed
    assert sleeps == [0.375]
    assert fake.requests[0].headers["idempotency-key"] == fake.requests[1].headers["idempotency-key"]


def test_key_reused_conflict_is_not_retried(client: Client, fake: FakeAPI, sleeps: list[float]) -> None:
    fake.add(error_reply(409, "conflict_error", "idempotency_key_reused"))
    with pytest.raises(ConflictError) as info:
        client.patients.create("user_42", idempotency_key="k")
    assert info.value.code == "idempotency_key_reused"
    assert sleeps == []


def test_key_given_as_extra_header_counts(make_client: Callable[..., Client], fake: FakeAPI) -> None:
    c = make_client(auto_idempotency_keys=False)
    fake.add(reply(503, {}), reply(body=patient_json()))
    c.patients.create("user_42", extra_headers={"idempotency-key": "hdr-key"})
    assert [r.headers["idempotency-key"] for r in fake.requests] == ["hdr-key", "hdr-key"]


def test_explicit_key_wins_over_extra_header(client: Client, fake: FakeAPI) -> None:
    fake.add(reply(body=patient_json()))
    client.patients.create("user_42", idempotency_key="arg-key", extra_headers={"Idempotency-Key": "hdr-key"})
    assert fake.last.headers.get_list("idempotency-key") == ["arg-key"]


def test_non_transport_httpx_error_is_raised_without_retry(client: Client, fake: FakeAPI, sleeps: list[float]) -> None:
    # A DecodingError is an httpx.HTTPError but not a TransportError: sending again would not help.
    fake.add(httpx.DecodingError("bad gzip"), reply(body=patient_json()))
    with pytest.raises(APIConnectionError) as info:
        client.patients.retrieve("user_42")
    assert isinstance(info.value.__cause__, httpx.DecodingError)
    assert len(fake.requests) == 1 and sleeps == []
