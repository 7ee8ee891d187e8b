"""Logs name route templates, never the concrete path: a patient id may be an email (PHI)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from ehrconnect_client import APIConnectionError, AsyncClient, Client, NotFoundError, RateLimitError
from sdk_fakes import FakeAPI, error_reply, reply

PATIENT = "jane@example.com"
# The id as it appears raw, percent-encoded in a path, and by its local part.
TRACES = (PATIENT, "jane%40example.com", "jane")


def all_log_text(caplog: pytest.LogCaptureFixture) -> str:
    """Every message plus every attribute of every record (``extra`` fields included)."""
    parts = []
    for record in caplog.records:
        parts.append(record.getMessage())
        parts.extend(str(v) for v in record.__dict__.values())
    return "\n".join(parts)


def assert_no_trace(text: str) -> None:
    for trace in TRACES:
        assert trace not in text


def test_failing_call_for_email_patient_id_logs_no_trace_of_it(
    client: Client, fake: FakeAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="ehrconnect_client")
    # A retried 503 (retry log), then a 404 that is raised (failure log).
    fake.add(
        error_reply(503, "api_error", "service_unavailable", request_id="rid-503"),
        error_reply(404, "not_found_error", "resource_not_found", request_id="rid-404"),
    )
    with pytest.raises(NotFoundError):
        client.patients.records(PATIENT, type="Observation")
    assert fake.last.url.raw_path.startswith(b"/patients/jane%40example.com/records?")  # request intact
    assert len(caplog.records) == 2
    retry, failure = caplog.records
    assert "/patients/{id}/records" in retry.getMessage() and "rid-503" in retry.getMessage()
    message = failure.getMessage()
    for fact in ("GET", "/patients/{id}/records", "404", "not_found_error", "resource_not_found", "rid-404"):
        assert fact in message
    assert failure.ehrconnect_path == "/patients/{id}/records"  # type: ignore[attr-defined]
    assert failure.ehrconnect_status == 404  # type: ignore[attr-defined]
    assert failure.ehrconnect_error_type == "not_found_error"  # type: ignore[attr-defined]
    assert failure.ehrconnect_error_code == "resource_not_found"  # type: ignore[attr-defined]
    assert failure.ehrconnect_request_id == "rid-404"  # type: ignore[attr-defined]
    assert_no_trace(all_log_text(caplog))


def test_success_debug_trace_has_no_patient_id(client: Client, fake: FakeAPI, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="ehrconnect_client")
    fake.add(reply(body={"id": "conn_1", "resource_type": "connection", "sync_requested": True}, request_id="rid-ok"))
    client.patients.request_sync(PATIENT, "conn_1")
    (record,) = caplog.records
    assert record.levelno == logging.DEBUG
    assert "/patients/{id}/connections/{conn_id}/sync" in record.getMessage()
    assert "rid-ok" in record.getMessage()
    assert_no_trace(all_log_text(caplog))


def test_connection_error_message_and_log_use_the_template(
    client: Client, fake: FakeAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="ehrconnect_client")
    fake.add(httpx.ConnectError("refused"))
    with pytest.raises(APIConnectionError) as info:
        client.patients.retrieve(PATIENT, max_retries=0)
    err = info.value
    # Applications often log SDK exceptions: the message carries the template only.
    assert "/patients/{id}" in str(err)
    assert_no_trace(str(err))
    assert err.route == "/patients/{id}"
    assert err.path == "/patients/jane%40example.com"  # still available to the caller
    assert_no_trace(all_log_text(caplog))


@pytest.mark.parametrize(
    ("call", "template"),
    [
        (lambda c: c.patients.retrieve(PATIENT), "/patients/{id}"),
        (lambda c: c.patients.update(PATIENT, email=PATIENT), "/patients/{id}"),
        (lambda c: c.patients.delete(PATIENT), "/patients/{id}"),
        (lambda c: c.patients.list_sessions(PATIENT), "/patients/{id}/sessions"),
        (lambda c: c.patients.disconnect(PATIENT, "conn_1"), "/patients/{id}/connections/{conn_id}"),
        (lambda c: c.patients.list_sync_runs(PATIENT, "conn_1"), "/patients/{id}/connections/{conn_id}/sync-runs"),
        (lambda c: c.patients.request_sync(PATIENT, "conn_1"), "/patients/{id}/connections/{conn_id}/sync"),
        (lambda c: c.patients.create(PATIENT, email=PATIENT), "/patients"),
        (lambda c: c.patients.list(patient_id=PATIENT), "/patients"),
        (lambda c: c.sessions.create(patient_id=PATIENT, return_url="https://app.test/back"), "/sessions"),
        (lambda c: c.sessions.retrieve("sess_1"), "/sessions/{id}"),
        (lambda c: c.connections.retrieve("https://ehr.test/fhir/r4"), "/connections/{id}"),
        (lambda c: c.connections.list(q="x"), "/connections"),
    ],
)
def test_every_route_is_logged_as_its_template(
    client: Client,
    fake: FakeAPI,
    caplog: pytest.LogCaptureFixture,
    call: Callable[[Client], Any],
    template: str,
) -> None:
    caplog.set_level(logging.DEBUG, logger="ehrconnect_client")
    fake.add(*[error_reply(429, "rate_limit_error", "throttled")] * 4)
    with pytest.raises(RateLimitError):
        call(client)
    assert len(caplog.records) == 4  # three retries, then the failure
    for record in caplog.records:
        assert record.ehrconnect_path == template  # type: ignore[attr-defined]
    text = all_log_text(caplog)
    assert_no_trace(text)
    assert "ehr.test" not in text


async def test_async_client_logs_templates_too(
    aclient: AsyncClient, fake: FakeAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="ehrconnect_client")
    fake.add(error_reply(404, "not_found_error", "resource_not_found", request_id="rid-a404"))
    with pytest.raises(NotFoundError):
        await aclient.patients.disconnect(PATIENT, "conn_1")
    (record,) = caplog.records
    assert "/patients/{id}/connections/{conn_id}" in record.getMessage() and "rid-a404" in record.getMessage()
    assert_no_trace(all_log_text(caplog))


def test_route_builders_pair_template_and_encoded_path() -> None:
    from ehrconnect_client._base import Route
    from ehrconnect_client.resources import _routes

    assert _routes.patient_connection("a/b", "conn_1", "/sync") == Route(
        template="/patients/{id}/connections/{conn_id}/sync", path="/patients/a%2Fb/connections/conn_1/sync"
    )
    assert _routes.session("sess_1") == Route(template="/sessions/{id}", path="/sessions/sess_1")
    with pytest.raises(ValueError):
        Route.static("/patients/{id}")
    with pytest.raises(ValueError):
        _routes.patient("")
