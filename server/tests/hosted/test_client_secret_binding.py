"""Client secrets only go to the authorization server they were registered with (RFC 9700 §4.4,
RFC 8414 §3.3): a catalog entry typed like a vendor cannot harvest that vendor's shared secret by
advertising its own token or revocation endpoint."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from ehrconnect.config import OAuthClientSetting
from ehrconnect.connections import registrations as regs
from ehrconnect.connections.service import revoke_upstream
from ehrconnect.kit.ids import new_id
from ehrconnect.kit.time import utcnow
from ehrconnect.models import Connection, FhirSource, OAuthClientRegistration
from fastapi import FastAPI
from hosted_mock_ehr import AUTHORIZE, REVOKE, TOKEN, MockEhr
from pydantic import SecretStr, ValidationError
from sqlalchemy import select

RETURN = "https://app.example/back"
TENANT = "https://epic-tenant.example/fhir"


@pytest.fixture(autouse=True)
def _fresh_resolution_cache() -> Iterator[None]:
    regs.invalidate_cache()
    yield
    regs.invalidate_cache()


def _secret_client(*hosts: str) -> regs.ResolvedClient:
    return regs.ResolvedClient(
        registration_id="settings:epic", client_id="vendor-app", client_secret="vendor-secret",
        auth_method="client_secret_basic", scopes=None, token_hosts=hosts,
    )


def test_secret_only_for_allowed_hosts() -> None:
    client = _secret_client("fhir.epic.com", ".cerner.com")
    assert client.to_smart("https://fhir.epic.com/oauth2/token").client_id == "vendor-app"
    assert client.to_smart("https://authorization.cerner.com/tenants/x/token").is_confidential
    for url in (
        "https://evil.example/token",
        "https://fhir.epic.com.evil.example/token",
        "https://evilcerner.com/token",
        "https://cerner.com/token",  # a suffix entry covers subdomains only
        "not a url",
    ):
        with pytest.raises(regs.ClientSecretNotAllowed) as caught:
            client.to_smart(url)
        assert "vendor-secret" not in str(caught.value)
    with pytest.raises(regs.ClientSecretNotAllowed):  # no hosts: the secret goes nowhere
        _secret_client().to_smart("https://fhir.epic.com/oauth2/token")


def test_public_client_unaffected() -> None:
    public = regs.ResolvedClient(
        registration_id="settings:sandbox", client_id="pub", client_secret=None, auth_method="none", scopes=None
    )
    assert not public.to_smart("https://anywhere.example/token").is_confidential


def test_settings_token_hosts_validated() -> None:
    entry = OAuthClientSetting(vendor_type="epic", client_id="x", token_hosts=["FHIR.Epic.com", ".cerner.com"])
    assert entry.token_hosts == ["fhir.epic.com", ".cerner.com"]
    for bad in (".com", "evil.example/path", "a b", "*.epic.com"):
        with pytest.raises(ValidationError):
            OAuthClientSetting(vendor_type="epic", client_id="x", token_hosts=[bad])


async def _epic_source(app: FastAPI) -> FhirSource:
    async with app.state.ctx.db.session() as session:
        src = FhirSource(
            id=new_id("fhir_source"), environment="sandbox", normalized_base_url=TENANT, fhir_base_url=TENANT,
            name="Hostile Clinic", type="epic", aliases=[], locations=[], npis=[], search_text="", provenance={},
        )
        session.add(src)
    return src


async def test_table_registration_hosts(app: FastAPI) -> None:
    ctx = app.state.ctx
    source = await _epic_source(app)
    async with ctx.db.session() as session:
        with pytest.raises(ValueError, match="token-host"):
            await regs.add_registration(
                session, ctx.cipher, environment="sandbox", vendor_type="epic", client_id="v", client_secret="s"
            )
        await regs.add_registration(
            session, ctx.cipher, environment="sandbox", vendor_type="epic", client_id="v", client_secret="s",
            token_hosts=["FHIR.epic.com"],
        )
        await regs.add_registration(
            session, ctx.cipher, environment="sandbox", source_id=source.id, client_id="p", client_secret="s",
        )
    async with ctx.db.session() as session:
        rows = (await session.execute(select(OAuthClientRegistration))).scalars().all()
        hosts = {r.client_id: r.extra["token_hosts"] for r in rows}
        # The per-source registration is pinned, at registration time, to the source's FHIR host.
        assert hosts == {"v": ["fhir.epic.com"], "p": ["epic-tenant.example"]}
        resolved = await regs.registration_for_source(session, ctx, source)
    assert resolved.client_id == "p"
    resolved.to_smart("https://epic-tenant.example/oauth2/token")
    with pytest.raises(regs.ClientSecretNotAllowed):
        resolved.to_smart(TOKEN)


def _q(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def _direct_session(api: httpx.AsyncClient, source_id: str) -> dict[str, Any]:
    response = await api.post(
        "/sessions", json={"patient_id": "pat-1", "return_url": RETURN, "connection_id": source_id}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_launch_refused_before_authorize_when_token_host_not_allowed(
    app: FastAPI, api: httpx.AsyncClient, mock_ehr: MockEhr
) -> None:
    ctx = app.state.ctx
    source = await _epic_source(app)  # advertises the mock's token endpoint at ehr.test
    ctx.settings.oauth_clients = [
        OAuthClientSetting(vendor_type="epic", client_id="vendor-app", client_secret=SecretStr("vendor-secret"),
                           token_hosts=["fhir.epic.com"]),
    ]
    sess = await _direct_session(api, source.id)
    response = await api.get(_path(sess["url"]))
    assert response.status_code == 302
    location = response.headers["location"]
    assert not location.startswith(AUTHORIZE)  # the patient is not sent to sign in for nothing
    assert (_q(location)["success"], _q(location)["error"]) == ("false", "source_unavailable")
    assert mock_ehr.token_calls() == 0
    async with ctx.db.session() as session:
        conn = (await session.execute(select(Connection).where(Connection.source_id == source.id))).scalar_one()
    assert conn.status == "failed" and conn.failure_code == "source_unavailable"
    assert conn.failure_detail is not None and "ehr.test" in conn.failure_detail
    assert "vendor-secret" not in conn.failure_detail


async def test_launch_proceeds_when_token_host_allowed(
    app: FastAPI, api: httpx.AsyncClient, mock_ehr: MockEhr
) -> None:
    ctx = app.state.ctx
    source = await _epic_source(app)
    ctx.settings.oauth_clients = [
        OAuthClientSetting(vendor_type="epic", client_id="vendor-app", client_secret=SecretStr("vendor-secret"),
                           token_hosts=["ehr.test"]),
    ]
    sess = await _direct_session(api, source.id)
    location = (await api.get(_path(sess["url"]))).headers["location"]
    assert location.startswith(AUTHORIZE)
    response = await api.get(f"/oauth/callback?code=c0de&state={_q(location)['state']}")
    assert response.status_code == 200
    assert mock_ehr.token_calls() == 1
    token_request = next(r for r in mock_ehr.requests if str(r.url) == TOKEN)
    assert token_request.headers["authorization"].startswith("Basic ")


async def test_revocation_never_sends_secret_to_foreign_host(
    app: FastAPI, mock_ehr: MockEhr
) -> None:
    ctx = app.state.ctx
    source = await _epic_source(app)
    ctx.settings.oauth_clients = [
        OAuthClientSetting(vendor_type="epic", client_id="vendor-app", client_secret=SecretStr("vendor-secret"),
                           token_hosts=["fhir.epic.com"]),
    ]
    conn = Connection(
        id=new_id("connection"), organization_id="x", environment="sandbox", patient_pk="p",
        source_id=source.id, fhir_base_url=TENANT, status="active", oauth_client_id="settings:epic",
        access_token_encrypted=ctx.cipher.encrypt("AT"), token_endpoint=TOKEN, revocation_endpoint=REVOKE,
        created_at=utcnow(), updated_at=utcnow(),
    )
    async with ctx.db.session() as session:
        assert await revoke_upstream(session, ctx, conn) is False
    assert not any(str(r.url) == REVOKE for r in mock_ehr.requests)
    ctx.settings.oauth_clients[0].token_hosts = ["ehr.test"]
    async with ctx.db.session() as session:
        await revoke_upstream(session, ctx, conn)
    assert any(str(r.url) == REVOKE for r in mock_ehr.requests)


@pytest.fixture
def cli_env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EHRCONNECT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("EHRCONNECT_DATABASE_URL", db_url)
    monkeypatch.delenv("EHRCONNECT_OAUTH_CLIENTS", raising=False)


@pytest.mark.usefixtures("cli_env")
def test_cli_vendor_secret_needs_token_host() -> None:
    from ehrconnect.cli import app as cli
    from typer.testing import CliRunner

    base = ["clients", "add", "--env", "live", "--vendor", "epic", "--client-id", "v", "--client-secret-stdin"]
    refused = CliRunner().invoke(cli, base, input="vendor-secret\n")
    assert refused.exit_code == 2 and "token-host" in refused.output
    added = CliRunner().invoke(cli, [*base, "--token-host", "fhir.epic.com", "--token-host", ".epic.com"],
                               input="vendor-secret\n")
    assert added.exit_code == 0, added.output
    listed = json.loads(CliRunner().invoke(cli, ["clients", "list", "--env", "live", "--json"]).stdout)
    epic = next(item for item in listed if item["vendor_type"] == "epic")
    assert epic["token_hosts"] == ["fhir.epic.com", ".epic.com"] and epic["has_secret"] is True


async def test_refresh_never_sends_secret_to_foreign_host(
    app: FastAPI, api: httpx.AsyncClient, mock_ehr: MockEhr
) -> None:
    from datetime import timedelta

    from ehrconnect.worker.tokens import TokenManager, TokenUnavailable

    ctx = app.state.ctx
    source = await _epic_source(app)
    entry = OAuthClientSetting(vendor_type="epic", client_id="vendor-app", client_secret=SecretStr("vendor-secret"),
                               token_hosts=["ehr.test"])
    ctx.settings.oauth_clients = [entry]
    sess = await _direct_session(api, source.id)
    location = (await api.get(_path(sess["url"]))).headers["location"]
    await api.get(f"/oauth/callback?code=c0de&state={_q(location)['state']}")
    async with ctx.db.session() as session:
        conn = (await session.execute(select(Connection).where(Connection.source_id == source.id))).scalar_one()
        assert conn.status == "active"
        conn.token_expires_at = utcnow() - timedelta(minutes=1)
    assert mock_ehr.token_calls() == 1
    entry.token_hosts = ["fhir.epic.com"]  # the registration no longer covers the advertised endpoint
    with pytest.raises(TokenUnavailable):
        await TokenManager(ctx, conn.id).access_token()
    assert mock_ehr.token_calls() == 1  # nothing was sent
    async with ctx.db.session() as session:
        again = await session.get(Connection, conn.id)
        assert again is not None and again.status == "active"  # transient, the grant is not broken
    entry.token_hosts = ["ehr.test"]
    assert (await TokenManager(ctx, conn.id).access_token()).get_secret_value() == "AT-plaintext-secret"
    assert mock_ehr.token_calls() == 2
