"""Settings from the environment, `serve` refusing an insecure secret, and logs free of secrets/PHI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from contract_kit import authed
from ehrconnect.app import build_context, create_app
from ehrconnect.auth.keys import create_key
from ehrconnect.cli import app as cli
from ehrconnect.config import Settings
from typer.testing import CliRunner


def test_settings_use_the_ehrconnect_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EHRCONNECT_PUBLIC_URL", "https://connect.example.org/")
    monkeypatch.setenv("EHRCONNECT_MAX_BODY_BYTES", "2048")
    monkeypatch.setenv("EHRCONNECT_DATA_DIR", str(tmp_path))
    settings = Settings()
    assert settings.public_url == "https://connect.example.org"
    assert settings.max_body_bytes == 2048
    assert settings.resolved_database_url == f"sqlite+aiosqlite:///{tmp_path.resolve() / 'ehrconnect.sqlite3'}"


@pytest.fixture
def fake_uvicorn(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[dict[str, Any]]:
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append({"args": args, **kwargs}))
    monkeypatch.setenv("EHRCONNECT_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("EHRCONNECT_SECRET_KEY", raising=False)
    monkeypatch.delenv("EHRCONNECT_DATABASE_URL", raising=False)
    return calls


@pytest.mark.parametrize("environment", ["production", "test"])
def test_serve_refuses_without_a_secret_outside_development(
    fake_uvicorn: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, environment: str
) -> None:
    monkeypatch.setenv("EHRCONNECT_ENVIRONMENT", environment)
    result = CliRunner().invoke(cli, ["serve"])
    assert result.exit_code == 2 and "EHRCONNECT_SECRET_KEY" in result.output
    monkeypatch.setenv("EHRCONNECT_SECRET_KEY", "too-short")
    assert CliRunner().invoke(cli, ["serve"]).exit_code == 2
    assert fake_uvicorn == []


def test_serve_starts_with_host_and_port(fake_uvicorn: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EHRCONNECT_ENVIRONMENT", "production")
    monkeypatch.setenv("EHRCONNECT_SECRET_KEY", "s" * 40)
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--port", "8123"])
    assert result.exit_code == 0, result.output
    [call] = fake_uvicorn
    assert (call["host"], call["port"]) == ("0.0.0.0", 8123)


def test_development_serves_with_the_dev_secret(
    fake_uvicorn: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EHRCONNECT_ENVIRONMENT", "development")
    assert CliRunner().invoke(cli, ["serve"]).exit_code == 0
    assert len(fake_uvicorn) == 1


async def test_logs_carry_request_ids_but_no_keys_tokens_or_phi(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    json_settings = settings.model_copy(update={"log_json": True})
    ctx = build_context(json_settings)
    app = create_app(json_settings, ctx=ctx)  # configures logging onto the captured stderr

    async def boom() -> None:
        raise RuntimeError("failed for jane.roe@example.com Jane Roe")

    app.add_api_route("/boom-log", boom, methods=["GET"])
    try:
        async with ctx.db.session() as session:
            secret = (await create_key(session, organization="acme", environment="sandbox")).secret
        email, name, patient_id = "jane.roe@example.com", "Jane Roe", "patient-jr-0042"
        request_ids = []
        async with authed(app, secret) as api:
            responses = [
                await api.post("/patients", json={"patient_id": patient_id, "email": email, "name": name}),
                await api.get(f"/patients/{patient_id}"),
                await api.get("/patients", params={"email": email}),
                await api.post("/sessions", json={"patient_id": patient_id, "patient_email": email,
                                                  "patient_name": name, "return_url": "https://a.example/x"}),
                await api.post("/patients", content=b"{bad json " + email.encode(),
                               headers={"content-type": "application/json"}),
                await api.get("/boom-log"),
            ]
            request_ids = [r.headers["x-request-id"] for r in responses]
            token = responses[3].json()["url"].rsplit("/", 1)[1]
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as anon:
            await anon.get("/patients", headers={"Authorization": f"Bearer {secret}x"})
    finally:
        await ctx.http.aclose()
        await ctx.db.dispose()
    logs = capsys.readouterr().err
    assert logs.strip(), "nothing was logged"
    for request_id in request_ids:
        assert request_id in logs
    assert "unhandled_error" in logs and "RuntimeError" in logs
    for forbidden in (secret, secret[:20], email, "jane.roe", name, patient_id, token):
        assert forbidden not in logs, f"{forbidden!r} leaked into the logs"
