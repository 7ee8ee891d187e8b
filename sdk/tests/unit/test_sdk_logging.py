"""Failures are logged with ids and codes, never keys, names, emails or bodies."""

from __future__ import annotations

import logging

import httpx
import pytest
from ehrconnect_client import APIConnectionError, Client, ConflictError, RateLimitError
from sdk_fakes import API_KEY, FakeAPI, error_reply, patient_json, reply

PII = ("jane@example.com", "Jane Roe", API_KEY, "Bearer")


def all_log_text(caplog: pytest.LogCaptureFixture) -> str:
    parts = []
    for record in caplog.records:
        parts.append(record.getMessage())
        parts.extend(str(v) for v in record.__dict__.values())
    return "\n".join(parts)


def test_api_error_is_logged_without_pii(client: Client, fake: FakeAPI, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="ehrconnect_client")
    fake.add(
        error_reply(
            409,
            "conflict_error",
            "external_id_already_exists",
            message="patient with email jane@example.com (Jane Roe) exists",
            param="patient_id",
            request_id="rid-409",
        )
    )
    with pytest.raises(ConflictError):
        client.patients.create("user_42", email="jane@example.com", name="Jane Roe")
    failures = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert len(failures) == 1
    record = failures[0]
    assert record.levelno == logging.INFO  # a duplicate create is ordinary control flow
    assert record.name == "ehrconnect_client"
    message = record.getMessage()
    for fact in ("POST", "/patients", "409", "conflict_error", "external_id_already_exists", "rid-409", "patient_id"):
        assert fact in message
    assert record.ehrconnect_request_id == "rid-409"  # type: ignore[attr-defined]
    assert record.ehrconnect_error_code == "external_id_already_exists"  # type: ignore[attr-defined]
    text = all_log_text(caplog)
    for secret in PII:
        assert secret not in text


def test_route_templates_are_logged_but_ids_and_query_strings_are_not(
    client: Client, fake: FakeAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="ehrconnect_client")
    fake.add(error_reply(404, "not_found_error", "resource_not_found"))
    with pytest.raises(Exception):
        client.patients.retrieve("user_42")
    fake.add(error_reply(400, "invalid_request_error", "invalid_data", param="email"))
    with pytest.raises(Exception):
        client.patients.list(email="jane@example.com")
    text = all_log_text(caplog)
    assert "/patients/{id}" in text
    assert "user_42" not in text
    assert "jane" not in text


def test_retries_are_logged(client: Client, fake: FakeAPI, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ehrconnect_client")
    fake.add(
        error_reply(429, "rate_limit_error", "throttled", headers={"Retry-After": "1"}, request_id="rid-a"),
        reply(body=patient_json()),
    )
    client.patients.retrieve("user_42")
    retries = [r for r in caplog.records if r.levelno == logging.INFO]
    assert len(retries) == 1
    assert "status 429" in retries[0].getMessage()
    assert "rid-a" in retries[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_connection_failures_are_logged(client: Client, fake: FakeAPI, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ehrconnect_client")
    fake.add(httpx.ConnectError("refused to https://api.example.test/patients?email=jane@example.com"))
    with pytest.raises(APIConnectionError):
        client.patients.list(email="jane@example.com", max_retries=0)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "ConnectError" in warnings[0].getMessage()
    assert "jane" not in all_log_text(caplog)


def test_success_is_only_debug(client: Client, fake: FakeAPI, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="ehrconnect_client")
    fake.add(reply(body=patient_json(), request_id="rid-ok"))
    client.patients.retrieve("user_42")
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]
    assert "rid-ok" in caplog.records[0].getMessage()
    text = all_log_text(caplog)
    for secret in PII:
        assert secret not in text


def test_rate_limit_giving_up_logged(client: Client, fake: FakeAPI, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ehrconnect_client")
    fake.add(*[error_reply(429, "rate_limit_error", "throttled")] * 4)
    with pytest.raises(RateLimitError):
        client.health()
    levels = [r.levelno for r in caplog.records]
    assert levels == [logging.INFO] * 3 + [logging.WARNING]


@pytest.mark.parametrize(
    ("status", "type_", "level"),
    [
        (400, "invalid_request_error", logging.INFO),
        (404, "not_found_error", logging.INFO),
        (409, "conflict_error", logging.INFO),
        (401, "authentication_error", logging.WARNING),
        (403, "permission_error", logging.WARNING),
        (500, "api_error", logging.WARNING),
    ],
)
def test_levels_by_status(
    client: Client, fake: FakeAPI, caplog: pytest.LogCaptureFixture, status: int, type_: str, level: int
) -> None:
    caplog.set_level(logging.DEBUG, logger="ehrconnect_client")
    fake.add(error_reply(status, type_, "x"))
    with pytest.raises(Exception):
        client.patients.retrieve("user_42")
    assert [r.levelno for r in caplog.records] == [level]


def test_library_adds_only_a_null_handler() -> None:
    handlers = logging.getLogger("ehrconnect_client").handlers
    assert handlers and all(isinstance(h, logging.NullHandler) for h in handlers)


def test_invalid_success_body_is_logged(client: Client, fake: FakeAPI, caplog: pytest.LogCaptureFixture) -> None:
    from ehrconnect_client import APIResponseValidationError

    caplog.set_level(logging.INFO, logger="ehrconnect_client")
    fake.add(reply(body={"id": "user_42", "email": "jane@example.com"}, request_id="rid-bad"))
    with pytest.raises(APIResponseValidationError):
        client.patients.retrieve("user_42")
    (record,) = caplog.records
    assert record.levelno == logging.WARNING and "rid-bad" in record.getMessage()
    assert "jane" not in all_log_text(caplog)
