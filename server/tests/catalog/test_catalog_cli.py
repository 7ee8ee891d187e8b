"""`ehrconnect catalog import|search|disable|enable|hide|unhide` against a real database."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from catalog_support import BRANDS, LANTERN, ORACLE, require_catalog_data
from ehrconnect.catalog.repository import get_source
from ehrconnect.cli import app as cli
from ehrconnect.kit.db import Database
from ehrconnect.models import OAuthClientRegistration
from typer.testing import CliRunner


@pytest.fixture
def cli_env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_catalog_data()
    monkeypatch.setenv("EHRCONNECT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("EHRCONNECT_DATABASE_URL", db_url)


def _invoke(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == code, result.output
    return result.output


@pytest.mark.usefixtures("cli_env")
def test_import_summary_then_idempotent_reimport() -> None:
    files = [
        str(ORACLE / "soarian_patient_r4_endpoints.json"),
        str(BRANDS),
        str(LANTERN / "NextGen_Healthcare_EndpointSources.json"),
    ]
    summary = json.loads(_invoke("catalog", "import", *files, "--env", "live", "--json"))
    assert summary["added"] == summary["unique_urls"] > 0
    assert summary["formats"] == {"endpoint_bundle": 1, "brands": 4, "lantern": 1}
    assert summary["skipped"] == {"not_r4": 2}  # NextGen's DSTU2 base and example2's R2 endpoint
    again = json.loads(_invoke("catalog", "import", *files, "--json"))
    assert (again["added"], again["updated"], again["unchanged"]) == (0, 0, summary["added"])

    table = _invoke("catalog", "import", *files)  # human summary
    assert "unchanged" in table and "skipped: not_r4" in table


@pytest.mark.usefixtures("cli_env")
def test_disable_hide_and_search_commands() -> None:
    _invoke("catalog", "import", str(ORACLE / "soarian_patient_r4_endpoints.json"), "--json")
    url = "https://fhir-myrecord-sc.cerner.com/r4/2f8f5ec1-b7b8-4be5-ae27-e308284dd9c1"
    assert "R0SE" in _invoke("catalog", "search", "Soarian Clinicals Public Sandbox")
    assert "disabled" in _invoke("catalog", "disable", url)
    assert "R0SE" not in _invoke("catalog", "search", "Soarian Clinicals Public Sandbox")
    _invoke("catalog", "enable", url)
    _invoke("catalog", "hide", url)
    assert "R0SE" not in _invoke("catalog", "search", "Soarian Clinicals Public Sandbox")
    _invoke("catalog", "unhide", url)
    assert "R0SE" in _invoke("catalog", "search", "Soarian Clinicals Public Sandbox")
    _invoke("catalog", "disable", "fhirsrc_missing", code=1)
    _invoke("catalog", "import", str(BRANDS), "--env", "nowhere", code=2)


@pytest.mark.usefixtures("cli_env")
def test_set_client_pins_a_registration(db_url: str) -> None:
    _invoke("catalog", "import", str(ORACLE / "soarian_patient_r4_endpoints.json"), "--json")
    url = "https://fhir-myrecord-sc.cerner.com/r4/2f8f5ec1-b7b8-4be5-ae27-e308284dd9c1"

    async def add_registration(environment: str) -> str:
        db = Database(db_url)
        try:
            async with db.session() as session:
                registration = OAuthClientRegistration(
                    id=f"oacl_test_{environment}", environment=environment, vendor_type="cerner", client_id="abc"
                )
                session.add(registration)
            return registration.id
        finally:
            await db.dispose()

    async def pinned() -> str | None:
        db = Database(db_url)
        try:
            async with db.session() as session:
                source = await get_source(session, "live", url)
                assert source is not None
                return source.oauth_client_id
        finally:
            await db.dispose()

    live = asyncio.run(add_registration("live"))
    sandbox = asyncio.run(add_registration("sandbox"))
    assert "uses oacl_test_live" in _invoke("catalog", "set-client", url, live)
    assert asyncio.run(pinned()) == live
    _invoke("catalog", "set-client", url, sandbox, code=1)  # another environment's registration
    _invoke("catalog", "import", str(ORACLE / "soarian_patient_r4_endpoints.json"), "--json")
    assert asyncio.run(pinned()) == live  # imports never change it
    assert "cerner registration" in _invoke("catalog", "set-client", url, "--vendor-default")
    assert asyncio.run(pinned()) is None
    _invoke("catalog", "set-client", url, code=2)
