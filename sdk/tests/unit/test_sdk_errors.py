"""The exception tree: one class per ``error.type``, every attribute filled, odd bodies survive."""

from __future__ import annotations

import httpx
import pytest
from ehrconnect_client import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIServerError,
    APITimeoutError,
    AuthenticationError,
    BillingError,
    Client,
    ConflictError,
    EhrconnectError,
    EHRError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
)
from sdk_fakes import FakeAPI, error_reply, reply

CASES = [
    (400, "invalid_request_error", "invalid_data", InvalidRequestError),
    (400, "invalid_request_error", "unsupported_api_version", InvalidRequestError),
    (413, "invalid_request_error", "payload_too_large", InvalidRequestError),
    (401, "authentication_error", "missing_api_key", AuthenticationError),
    (401, "authentication_error", "invalid_api_key", AuthenticationError),
    (401, "authentication_error", "expired_api_key", AuthenticationError),
    (402, "billing_error", "quota_exceeded", BillingError),
    (403, "permission_error", "forbidden", PermissionDeniedError),
    (404, "not_found_error", "resource_not_found", NotFoundError),
    (409, "conflict_error", "external_id_already_exists", ConflictError),
    (409, "conflict_error", "idempotency_key_reused", ConflictError),
    (429, "rate_limit_error", "throttled", RateLimitError),
    (500, "api_error", "internal_error", APIServerError),
    (502, "ehr_error", "fhir_error", EHRError),
    (502, "ehr_error", "token_exchange_failed", EHRError),
]


@pytest.mark.parametrize(("status", "type_", "code", "cls"), CASES)
def test_error_type_maps_to_class(
    client: Client, fake: FakeAPI, status: int, type_: str, code: str, cls: type[APIError]
) -> None:
    fake.add(error_reply(status, type_, code, param="patient_id", message="nope", headers={"Retry-After": "7"}))
    with pytest.raises(cls) as info:
        client.patients.retrieve("user_42", max_retries=0)
    err = info.value
    assert isinstance(err, APIError) and isinstance(err, EhrconnectError)
    assert err.http_status == status
    assert err.type == type_
    assert err.code == code
    assert err.message == "nope"
    assert err.param == "patient_id"
    assert err.doc_url == f"https://api.example.test/docs/errors#{code}"
    assert err.request_id == "9c9b6f7a-8e4f-4a3b-9c1e-6f3a2d8b7c4d"
    assert err.retry_after == 7.0
    assert err.headers["x-request-id"] == err.request_id
    assert isinstance(err.body, dict)
    text = str(err)
    assert code in text and str(status) in text and "nope" in text


def test_type_wins_over_status(client: Client, fake: FakeAPI) -> None:
    # A 400 that says not_found_error is a NotFoundError: the envelope is authoritative.
    fake.add(error_reply(400, "not_found_error", "resource_not_found"))
    with pytest.raises(NotFoundError):
        client.patients.retrieve("x")


def test_unknown_type_falls_back_to_status(client: Client, fake: FakeAPI) -> None:
    fake.add(error_reply(409, "brand_new_error", "something"))
    with pytest.raises(ConflictError) as info:
        client.patients.retrieve("x")
    assert info.value.type == "brand_new_error"


def test_unknown_type_and_status_is_plain_api_error(client: Client, fake: FakeAPI) -> None:
    fake.add(error_reply(418, "teapot_error", "short_and_stout"))
    with pytest.raises(APIError) as info:
        client.patients.retrieve("x")
    assert type(info.value) is APIError


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (404, NotFoundError),
        (401, AuthenticationError),
        (500, APIServerError),
        (503, APIServerError),
        (405, APIError),
    ],
)
def test_non_json_error_body(client: Client, fake: FakeAPI, status: int, cls: type[APIError]) -> None:
    fake.add(
        reply(
            status,
            content=b"<html><body>Bad Gateway</body></html>",
            headers={"Content-Type": "text/html"},
            request_id="rid-html",
        )
    )
    with pytest.raises(cls) as info:
        client.patients.retrieve("x", max_retries=0)
    err = info.value
    assert err.http_status == status
    assert err.type is None and err.code is None
    assert err.request_id == "rid-html"
    assert err.body == "<html><body>Bad Gateway</body></html>"
    assert "<html>" not in str(err)


def test_json_body_that_is_not_an_envelope(client: Client, fake: FakeAPI) -> None:
    fake.add(reply(404, {"detail": "Not Found"}))
    with pytest.raises(NotFoundError) as info:
        client.patients.retrieve("x")
    assert info.value.body == {"detail": "Not Found"}


def test_empty_error_body(client: Client, fake: FakeAPI) -> None:
    fake.add(reply(403, content=b""))
    with pytest.raises(PermissionDeniedError) as info:
        client.patients.retrieve("x")
    assert info.value.body is None


def test_envelope_with_wrong_value_types_is_tolerated(client: Client, fake: FakeAPI) -> None:
    fake.add(reply(400, {"error": {"type": "invalid_request_error", "code": 5, "message": None, "param": ["x"]}}))
    with pytest.raises(InvalidRequestError) as info:
        client.patients.retrieve("x")
    assert info.value.code is None and info.value.param is None
    assert info.value.message == "HTTP 400"


def test_request_id_falls_back_to_header(client: Client, fake: FakeAPI) -> None:
    fake.add(
        reply(
            404,
            {"error": {"type": "not_found_error", "code": "resource_not_found", "message": "m"}},
            request_id="hdr-rid",
        )
    )
    with pytest.raises(NotFoundError) as info:
        client.patients.retrieve("x")
    assert info.value.request_id == "hdr-rid"


def test_network_error_is_connection_error(client: Client, fake: FakeAPI) -> None:
    fake.add(*[httpx.ConnectError("refused")] * 4)
    with pytest.raises(APIConnectionError) as info:
        client.patients.retrieve("user_42")
    err = info.value
    assert not isinstance(err, APIError)
    assert not isinstance(err, APITimeoutError)
    assert (err.method, err.path) == ("GET", "/patients/user_42")
    assert isinstance(err.__cause__, httpx.ConnectError)


def test_timeout_is_timeout_error(client: Client, fake: FakeAPI) -> None:
    fake.add(httpx.ReadTimeout("slow"))
    with pytest.raises(APITimeoutError) as info:
        client.patients.retrieve("user_42", max_retries=0)
    assert isinstance(info.value, APIConnectionError)


def test_connection_error_message_has_no_query(client: Client, fake: FakeAPI) -> None:
    fake.add(httpx.ConnectError("refused"))
    with pytest.raises(APIConnectionError) as info:
        client.patients.list(email="jane@example.com", max_retries=0)
    assert "jane" not in str(info.value)


def test_non_json_success_body(client: Client, fake: FakeAPI) -> None:
    fake.add(reply(200, content=b"not json", request_id="rid-x"))
    with pytest.raises(APIResponseValidationError) as info:
        client.health()
    assert info.value.request_id == "rid-x"
    assert info.value.http_status == 200


def test_wrong_success_shape_names_fields_not_values(client: Client, fake: FakeAPI) -> None:
    fake.add(reply(200, {"id": "user_42", "email": "jane@example.com", "created_at": "not a date"}))
    with pytest.raises(APIResponseValidationError) as info:
        client.patients.retrieve("user_42")
    assert "created_at" in str(info.value)
    assert "jane" not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
