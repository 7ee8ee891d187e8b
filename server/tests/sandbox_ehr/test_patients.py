"""Test patients: the ``patients --json`` command, and resource_count == what the API serves."""

from __future__ import annotations

import json
from typing import Any

from ehrconnect.sandbox_ehr.cli import app
from ehrconnect.sandbox_ehr.data import test_patients
from ehrconnect.sandbox_ehr.resources import SUPPORTED_TYPES
from ehrconnect.sandbox_ehr.settings import SandboxSettings
from sandbox_helpers import Portal, http
from typer.testing import CliRunner


def test_patients_json_command() -> None:
    result = CliRunner().invoke(app, ["--large-patient", "1500", "patients", "--json"])
    assert result.exit_code == 0, result.output
    patients = json.loads(result.output)
    assert len(patients) == 16
    for patient in patients:
        assert set(patient) == {"id", "name", "username", "password", "resource_count"}
        assert patient["resource_count"] > 0
    by_username = {p["username"]: p for p in patients}
    assert by_username["alberto.atencio"]["id"] == "4e8ed886-fd5f-40bb-8feb-f339b04d853a"
    assert by_username["alberto.atencio"]["name"] == "Alberto Atencio"
    assert by_username["maria.razo"]["name"] == "María Luisa Razo"
    assert by_username["large1500"]["resource_count"] == 1500
    assert by_username["large1500"]["id"] == "large-1500"


def test_cli_rejects_bad_client_spec() -> None:
    result = CliRunner().invoke(app, ["--client", "no-equals-sign", "patients"])
    assert result.exit_code != 0


def test_cli_registers_clients() -> None:
    from ehrconnect.sandbox_ehr.cli import build_settings

    settings = build_settings(["a=http://x/cb"], ["b:s3=http://y/cb"], [])
    assert settings.client("ehrconnect-sandbox") is not None  # pre-registered platform client
    public = settings.client("a")
    confidential = settings.client("b")
    assert public is not None and not public.is_confidential
    assert confidential is not None and confidential.is_confidential
    assert confidential.redirect_uris == ["http://y/cb"]


def test_platform_client_follows_public_url(monkeypatch: Any) -> None:
    monkeypatch.setenv("EHRCONNECT_PUBLIC_URL", "https://connect.example.org/")
    client = SandboxSettings().client("ehrconnect-sandbox")
    assert client is not None
    assert client.redirect_uris == ["https://connect.example.org/oauth/callback"]
    monkeypatch.delenv("EHRCONNECT_PUBLIC_URL")
    default = SandboxSettings().client("ehrconnect-sandbox")
    assert default is not None and default.redirect_uris == ["http://127.0.0.1:8000/oauth/callback"]


def _pull_by_type_search(portal: Portal, token: str, extra: str = "") -> set[tuple[str, str]]:
    pulled: list[tuple[str, str]] = []
    for rtype in SUPPORTED_TYPES:
        url: str | None = f"{portal.fhir}/{rtype}?_count=100{extra}"
        while url:
            response = http.get(url, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200, response.text
            body = response.json()
            pulled += [(e["resource"]["resourceType"], e["resource"]["id"]) for e in body.get("entry", [])]
            url = next((link["url"] for link in body["link"] if link["relation"] == "next"), None)
    assert len(pulled) == len(set(pulled))  # no duplicates across pages
    return set(pulled)


def _pull_everything(portal: Portal, token: str, patient_id: str) -> set[tuple[str, str]]:
    pulled: set[tuple[str, str]] = set()
    url: str | None = f"{portal.fhir}/Patient/{patient_id}/$everything?_count=150"
    while url:
        body = http.get(url, headers={"Authorization": f"Bearer {token}"}).json()
        pulled |= {(e["resource"]["resourceType"], e["resource"]["id"]) for e in body.get("entry", [])}
        url = next((link["url"] for link in body["link"] if link["relation"] == "next"), None)
    return pulled


def test_resource_count_equals_full_pull(sandbox_url: str) -> None:
    # The shared server runs with large_patients=[300].
    patients = test_patients(SandboxSettings(large_patients=[300]))
    assert any(p.username == "large300" for p in patients)
    portal = Portal(sandbox_url)
    try:
        for patient in patients:
            tokens = portal.tokens((patient.username, patient.id), scope="launch/patient patient/*.rs")
            assert tokens["patient"] == patient.id
            by_type = _pull_by_type_search(portal, tokens["access_token"])
            assert len(by_type) == patient.resource_count, patient.username
            assert _pull_everything(portal, tokens["access_token"], patient.id) == by_type
            if patient.username == "tristan.gleason":
                # A client that adds patient=<id> to every search (ignored where it does not apply)
                # retrieves the same set.
                with_param = _pull_by_type_search(portal, tokens["access_token"], f"&patient={patient.id}")
                assert with_param == by_type
    finally:
        portal.close()
