"""The sync Client over real HTTP: uvicorn on a loopback port, real sockets, real headers."""

from __future__ import annotations

import logging
import socket
from typing import Any

import pytest
from ehrconnect_client import (
    APIConnectionError,
    AuthenticationError,
    Client,
    ConflictError,
    NotFoundError,
    Patient,
    active_connections,
)


def test_health_and_headers_over_http(live_client: Client) -> None:
    health = live_client.health()
    assert health.ok
    info = health.last_response
    assert info is not None and info.http_status == 200 and info.request_id


def test_patients_round_trip_over_http(live_client: Client) -> None:
    for i in range(5):
        live_client.patients.create(f"live_{i}", email=f"p{i}@example.com")
    ids = [p.id for p in live_client.patients.iter_all(limit=2)]
    assert sorted(ids) == [f"live_{i}" for i in range(5)]
    assert all(isinstance(p, Patient) for p in live_client.patients.list(limit=5).data)
    detail = live_client.patients.retrieve("live_3")
    assert detail.email == "p3@example.com" and active_connections(detail) == []
    assert live_client.patients.delete("live_3").deleted is True
    with pytest.raises(NotFoundError) as info:
        live_client.patients.retrieve("live_3")
    assert info.value.request_id


def test_automatic_idempotency_key_does_not_mask_real_conflicts(live_client: Client) -> None:
    live_client.patients.create("live_dup")
    # A new logical call gets a new key: the server sees a genuine duplicate.
    with pytest.raises(ConflictError) as info:
        live_client.patients.create("live_dup")
    assert info.value.code == "external_id_already_exists"


def test_fhir_base_url_in_path_survives_real_http(live_client: Client) -> None:
    source = live_client.connections.list(limit=1).data[0]
    assert live_client.connections.retrieve(source.fhir_base_url).id == source.id
    session = live_client.sessions.create(
        patient_id="live_sess", return_url="https://app.example.com/back", connection_id=source.id
    )
    assert session.url.startswith(live_client.base_url + "/c/")
    assert live_client.sessions.retrieve(session.id).connection_id == source.id


def test_wrong_tenant_and_bad_key(live: Any, live_client: Client) -> None:
    live_client.patients.create("live_private")
    with Client(live.other_key, base_url=live.url) as other, pytest.raises(NotFoundError):
        other.patients.retrieve("live_private")
    with Client("mb_sk_sbx_wrong", base_url=live.url) as bad, pytest.raises(AuthenticationError) as info:
        bad.patients.list()
    assert info.value.code == "invalid_api_key"


def test_unreachable_server_is_a_connection_error(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port once the socket is closed.
    sleeps: list[float] = []
    caplog.set_level(logging.INFO, logger="ehrconnect_client")
    client = Client("k", base_url=f"http://127.0.0.1:{port}", sleep=sleeps.append, jitter_source=lambda: 0.0)
    with client as c, pytest.raises(APIConnectionError):
        c.patients.list(email="jane@example.com")
    assert sleeps == [0.25, 0.5, 1.0]
    assert "jane" not in caplog.text and "Bearer" not in caplog.text
