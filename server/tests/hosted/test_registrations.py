"""Client registration resolution: explicit > table (source, vendor) > settings > sandbox built-in."""

from __future__ import annotations

import pytest
from ehrconnect.config import OAuthClientSetting
from ehrconnect.connections import registrations as regs
from ehrconnect.kit.ids import new_id
from ehrconnect.kit.time import utcnow
from ehrconnect.models import Connection, FhirSource
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import select


async def _sandbox_source(app: FastAPI) -> FhirSource:
    async with app.state.ctx.db.session() as session:
        source: FhirSource = (await session.execute(select(FhirSource).limit(1))).scalar_one()
        return source


async def _make_source(app: FastAPI, vendor: str | None) -> FhirSource:
    async with app.state.ctx.db.session() as session:
        src = FhirSource(
            id=new_id("fhir_source"), environment="sandbox", normalized_base_url=f"https://{vendor}.example/fhir",
            fhir_base_url=f"https://{vendor}.example/fhir", name="Example", type=vendor,
            aliases=[], locations=[], npis=[], search_text="", provenance={},
        )
        session.add(src)
    return src


async def test_sandbox_source_resolves_to_builtin_public_client(app: FastAPI) -> None:
    ctx = app.state.ctx
    source = await _sandbox_source(app)
    async with ctx.db.session() as session:
        client = await regs.registration_for_source(session, ctx, source)
    assert client.registration_id == "settings:sandbox"
    assert client.client_id == ctx.settings.sandbox_client_id
    assert client.client_secret is None and client.auth_method == "none"
    assert client.to_smart("https://anywhere.example/token").client_id == ctx.settings.sandbox_client_id


async def test_unregistered_source_raises(app: FastAPI) -> None:
    ctx = app.state.ctx
    source = await _make_source(app, "nobody")
    async with ctx.db.session() as session:
        with pytest.raises(regs.NoClientRegistration):
            await regs.registration_for_source(session, ctx, source)


async def test_resolution_order_and_secret_encrypted(app: FastAPI) -> None:
    ctx = app.state.ctx
    source = await _make_source(app, "epic")
    ctx.settings.oauth_clients = [
        OAuthClientSetting(vendor_type="epic", client_id="from-settings-vendor"),
        OAuthClientSetting(source=source.fhir_base_url + "/", client_id="from-settings-source",
                           client_secret=SecretStr("s3cret-settings")),
    ]
    async with ctx.db.session() as session:
        got = await regs.registration_for_source(session, ctx, source)
    assert got.client_id == "from-settings-source" and got.auth_method == "client_secret_basic"
    assert "s3cret" not in repr(got)

    async with ctx.db.session() as session:
        vendor_row = await regs.add_registration(
            session, ctx.cipher, environment="sandbox", vendor_type="epic", client_id="table-vendor"
        )
    async with ctx.db.session() as session:
        assert (await regs.registration_for_source(session, ctx, source)).client_id == "table-vendor"
        row = await regs.add_registration(
            session, ctx.cipher, environment="sandbox", source_id=source.id, client_id="table-source",
            client_secret="topsecret", auth_method="client_secret_post", scopes=["openid", "patient/*.rs"],
        )
        assert row.client_secret_encrypted and "topsecret" not in row.client_secret_encrypted
    async with ctx.db.session() as session:
        got = await regs.registration_for_source(session, ctx, source)
        assert (got.client_id, got.client_secret, got.auth_method) == ("table-source", "topsecret",
                                                                       "client_secret_post")
        assert got.scopes == ["openid", "patient/*.rs"]
        # An explicit pointer on the source wins over everything.
        db_source = await session.get(FhirSource, source.id)
        assert db_source is not None
        db_source.oauth_client_id = vendor_row.id
    async with ctx.db.session() as session:
        db_source = await session.get(FhirSource, source.id)
        assert db_source is not None
        assert (await regs.registration_for_source(session, ctx, db_source)).client_id == "table-vendor"
        assert await regs.remove_registration(session, row.id)
        assert not await regs.remove_registration(session, row.id)


async def test_registration_for_connection_uses_recorded_id(app: FastAPI) -> None:
    ctx = app.state.ctx
    source = await _make_source(app, "cerner")
    ctx.settings.oauth_clients = [OAuthClientSetting(vendor_type="cerner", client_id="cerner-app")]
    conn = Connection(
        id=new_id("connection"), organization_id="x", environment="sandbox", patient_pk="p",
        source_id=source.id, fhir_base_url=source.fhir_base_url, status="active",
        oauth_client_id="settings:cerner", created_at=utcnow(), updated_at=utcnow(),
    )
    async with ctx.db.session() as session:
        got = await regs.registration_for_connection(session, ctx, conn)
        assert (got.registration_id, got.client_id) == ("settings:cerner", "cerner-app")
        conn.oauth_client_id = "oacl_gone"
        got = await regs.registration_for_connection(session, ctx, conn)
        assert got.client_id == "cerner-app"
