"""Guards for real deployments: no dev secret behind an https URL; HSTS only over https."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import uvicorn
from ehrconnect.app import create_app
from ehrconnect.cli import app as cli
from ehrconnect.config import Settings
from typer.testing import CliRunner


def test_https_public_url_refuses_the_development_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    started: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: started.append(a))
    monkeypatch.setenv("EHRCONNECT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("EHRCONNECT_PUBLIC_URL", "https://connect.example.com")
    result = CliRunner().invoke(cli, ["serve"])
    assert result.exit_code == 2 and "EHRCONNECT_SECRET_KEY" in result.output
    assert started == []


@pytest.mark.parametrize(
    ("public_url", "hsts"), [("https://connect.example.com", True), ("http://127.0.0.1:8000", False)]
)
async def test_hsts_only_when_served_over_https(public_url: str, hsts: bool, tmp_path: Path) -> None:
    settings = Settings(public_url=public_url, data_dir=tmp_path, sandbox_ehr_enabled=False, embedded_worker=False)
    app = create_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.get("/health")
    assert ("strict-transport-security" in response.headers) is hsts
    await app.state.ctx.db.dispose()
