"""`ehrconnect keys create|list|revoke` against a real database; keys stored hashed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from ehrconnect.app import create_app
from ehrconnect.cli import app as cli
from ehrconnect.config import Settings
from ehrconnect.kit.crypto import sha256_hex
from ehrconnect.models import ApiKey
from sqlalchemy import select
from typer.testing import CliRunner


@pytest.fixture
def cli_env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {"EHRCONNECT_DATA_DIR": str(tmp_path), "EHRCONNECT_DATABASE_URL": db_url}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def _status_with(db_url: str, tmp_path: Path, secret: str) -> int:
    async def run() -> int:
        settings = Settings(database_url=db_url, data_dir=tmp_path, sandbox_ehr_enabled=False, environment="test")
        app = create_app(settings)
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                response = await client.get("/patients", headers={"Authorization": f"Bearer {secret}"})
                return response.status_code
        finally:
            await app.state.ctx.db.dispose()

    return asyncio.run(run())


def test_create_list_revoke(cli_env: dict[str, str], db_url: str, tmp_path: Path) -> None:
    created = json.loads(_invoke("keys", "create", "--org", "acme", "--env", "sandbox", "--json"))
    assert set(created) == {"key", "id", "org", "environment"}
    assert created["key"].startswith("mb_sk_sbx_") and created["org"] == "acme"
    assert created["environment"] == "sandbox" and created["id"].startswith("key_")
    live = json.loads(_invoke("keys", "create", "--org", "acme", "--env", "live", "--json"))
    assert live["key"].startswith("mb_sk_live_")

    listed = json.loads(_invoke("keys", "list", "--json"))
    assert {k["id"] for k in listed} == {created["id"], live["id"]}
    assert all(k["state"] == "active" and k["api_version"] == "2026-04-25" for k in listed)
    assert created["key"] not in json.dumps(listed)
    assert "acme" in _invoke("keys", "list")  # table form

    assert _status_with(db_url, tmp_path, created["key"]) == 200
    revoked = CliRunner().invoke(cli, ["keys", "revoke", created["id"]])
    assert revoked.exit_code == 0, revoked.output
    assert {k["id"]: k["state"] for k in json.loads(_invoke("keys", "list", "--json"))}[created["id"]] == "revoked"
    assert _status_with(db_url, tmp_path, created["key"]) == 401
    assert _status_with(db_url, tmp_path, live["key"]) == 200


def test_keys_are_stored_hashed(cli_env: dict[str, str], db_url: str, tmp_path: Path) -> None:
    created = json.loads(_invoke("keys", "create", "--org", "acme", "--env", "sandbox", "--json"))

    async def stored() -> list[tuple[str, str]]:
        from ehrconnect.kit.db import Database

        db = Database(Settings(database_url=db_url).resolved_database_url)
        try:
            async with db.session() as session:
                rows = (await session.execute(select(ApiKey))).scalars().all()
                return [(row.key_hash, row.display_prefix) for row in rows]
        finally:
            await db.dispose()

    [(key_hash, prefix)] = asyncio.run(stored())
    assert key_hash == sha256_hex(created["key"]) and created["key"] not in key_hash
    assert created["key"].startswith(prefix) and len(prefix) < 20
    if db_url.startswith("sqlite"):
        raw = Path(db_url.split(":///", 1)[1]).read_bytes()
        assert created["key"].encode() not in raw


def test_expiry_and_bad_input(cli_env: dict[str, str], db_url: str, tmp_path: Path) -> None:
    expired = json.loads(
        _invoke("keys", "create", "--org", "acme", "--env", "sandbox", "--json", "--expires-at", "2020-01-01T00:00:00")
    )
    states = {k["id"]: k for k in json.loads(_invoke("keys", "list", "--json", "--org", "acme"))}
    assert states[expired["id"]]["state"] == "expired"
    assert states[expired["id"]]["expires_at"] == "2020-01-01T00:00:00.000Z"
    assert _status_with(db_url, tmp_path, expired["key"]) == 401
    bad_env = CliRunner().invoke(cli, ["keys", "create", "--org", "acme", "--env", "prod"])
    assert bad_env.exit_code != 0
    missing = CliRunner().invoke(cli, ["keys", "revoke", "key_nope"])
    assert missing.exit_code == 1
    assert json.loads(_invoke("keys", "list", "--json", "--org", "nobody")) == []


def test_human_output_prints_the_key_once(cli_env: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["keys", "create", "--org", "acme", "--env", "live"])
    assert result.exit_code == 0
    lines = [line for line in result.stdout.splitlines() if line.startswith("mb_sk_live_")]
    assert len(lines) == 1
