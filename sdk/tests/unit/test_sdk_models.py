"""Models tolerate new fields, parse timestamps, accept upstream aliases; helpers over them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from ehrconnect_client import (
    FhirSource,
    Health,
    ListPage,
    Patient,
    PatientConnection,
    PatientDetail,
    Record,
    RecordsPage,
    Session,
    SessionConnection,
    SyncRun,
    active_connections,
)
from sdk_fakes import TS, list_json, patient_connection_json, patient_json, session_json


def test_unknown_fields_are_kept() -> None:
    patient = Patient.model_validate(patient_json(tier="gold", nested={"a": [1]}))
    assert patient.model_extra == {"tier": "gold", "nested": {"a": [1]}}
    assert patient.tier == "gold"  # type: ignore[attr-defined]
    assert patient.model_dump()["nested"] == {"a": [1]}


def test_list_envelope_tolerates_new_fields() -> None:
    page = ListPage[Patient].model_validate(list_json([patient_json()], total_count=9))
    assert page.model_extra == {"total_count": 9}


def test_timestamps_are_aware_utc() -> None:
    health = Health.model_validate({"ok": True, "server_time": "2026-09-02T19:40:56.198Z"})
    assert health.server_time == datetime(2026, 9, 2, 19, 40, 56, 198000, tzinfo=UTC)
    assert health.server_time.utcoffset() is not None


def test_patient_connection_accepts_patient_session_id_alias() -> None:
    raw = patient_connection_json()
    raw["patient_session_id"] = raw.pop("session_id")
    conn = PatientConnection.model_validate(raw)
    assert conn.session_id == "sess_01J9YQ8M2X4VZ6P2K5RH7M3KQT"


def test_patient_connection_optional_extensions() -> None:
    raw = {"id": "conn_1", "connection_id": "fhirsrc_1", "status": "refresh_failed", "created_at": TS}
    conn = PatientConnection.model_validate(raw)
    assert conn.scopes == [] and conn.last_synced_at is None and conn.sync_status is None


def test_unknown_status_values_are_accepted() -> None:
    session = Session.model_validate(session_json(status="paused_by_admin"))
    assert session.status == "paused_by_admin"


def test_missing_required_field_is_rejected() -> None:
    raw = patient_json()
    del raw["created_at"]
    with pytest.raises(ValueError):
        Patient.model_validate(raw)


def test_fhir_source_nullable_fields() -> None:
    src = FhirSource.model_validate(
        {"id": "fhirsrc_1", "resource_type": "fhir_source", "name": "X", "type": None, "fhir_base_url": "https://x/"}
    )
    assert src.type is None and src.logo_url is None and src.portal_url is None


def test_record_keeps_fhir_untouched() -> None:
    resource = {"resourceType": "Observation", "id": "o1", "valueQuantity": {"value": 5.4, "unit": "mmol/L"}}
    record = Record.model_validate({"source": None, "resource": resource})
    assert record.resource == resource
    assert record.fhir_type == "Observation"
    assert Record.model_validate({"resource": {}}).fhir_type is None


def test_records_page_defaults() -> None:
    page = RecordsPage.model_validate({"resource_type": "list", "data": [], "has_more": False, "next_cursor": None})
    assert page.patient_id is None and page.previous_cursor is None


def test_sync_run_tolerant() -> None:
    run = SyncRun.model_validate({"id": "run_1"})
    assert run.resource_type == "sync_run" and run.counts == {} and run.errors == [] and run.deleted == {}
    with pytest.raises(ValueError):
        SyncRun.model_validate({"id": "run_1", "counts": {"Observation": "many"}})


def test_active_connections_of_session() -> None:
    conns = [
        {"id": None, "connection_id": "fhirsrc_1", "status": "failed", "failure_code": "user_denied", "created_at": TS},
        {"id": "conn_2", "connection_id": "fhirsrc_2", "status": "active", "created_at": TS},
        {"id": "conn_3", "connection_id": "fhirsrc_3", "status": "refresh_failed", "created_at": TS},
    ]
    session = Session.model_validate(session_json(status="complete", connections=conns))
    active = active_connections(session)
    assert [c.id for c in active] == ["conn_2"]
    assert all(isinstance(c, SessionConnection) for c in active)


def test_active_connections_of_patient() -> None:
    detail = PatientDetail.model_validate(
        patient_json(
            connections=[
                patient_connection_json("conn_a", "active"),
                patient_connection_json("conn_b", "disconnected"),
                patient_connection_json("conn_c", "active"),
            ]
        )
    )
    assert [c.id for c in active_connections(detail)] == ["conn_a", "conn_c"]


def test_active_connections_empty_and_wrong_type() -> None:
    assert active_connections(Session.model_validate(session_json())) == []
    with pytest.raises(TypeError):
        active_connections(Patient.model_validate(patient_json()))  # type: ignore[call-overload]


def test_last_response_is_none_for_hand_built_objects() -> None:
    assert Patient.model_validate(patient_json()).last_response is None
