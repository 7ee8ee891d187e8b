"""`ehrconnect clients add|list|remove`: OAuth client registrations at FHIR sources.

Secrets are read from a prompt or stdin (never from argv, where `ps` and shell history see them)
and stored encrypted; `list` never prints them.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from ehrconnect.config import Settings

app = typer.Typer(help="OAuth client registrations per source or vendor type.", no_args_is_help=True)
console = Console(stderr=True)


async def _with_session(settings: Settings, fn: Any) -> Any:
    from ehrconnect.kit.db import Database

    db = Database(settings.resolved_database_url)
    try:
        async with db.session() as session:
            return await fn(session)
    finally:
        await db.dispose()


def _prepare() -> Settings:
    from ehrconnect.db_migrations import upgrade

    settings = Settings()
    if settings.is_sqlite:  # the embedded default migrates itself, like the other commands
        upgrade(settings.resolved_database_url)
    return settings


@app.command("add")
def add(
    client_id: Annotated[str, typer.Option("--client-id", help="The client id the EHR issued.")],
    env: Annotated[str, typer.Option("--env", help="sandbox or live")] = "live",
    source: Annotated[
        str | None, typer.Option("--source", help="One catalog source: fhirsrc_ id or FHIR base URL.")
    ] = None,
    vendor: Annotated[
        str | None, typer.Option("--vendor", help="Every source of this catalog type (e.g. epic).")
    ] = None,
    secret_stdin: Annotated[
        bool, typer.Option("--client-secret-stdin", help="Read a client secret from stdin.")
    ] = False,
    ask_secret: Annotated[bool, typer.Option("--client-secret", help="Prompt for a client secret.")] = False,
    auth_method: Annotated[
        str | None,
        typer.Option("--auth-method", help="none | client_secret_basic | client_secret_post"),
    ] = None,
    scope: Annotated[
        list[str] | None, typer.Option("--scope", help="Scope to request (repeat); default: SMART defaults.")
    ] = None,
    token_host: Annotated[
        list[str] | None,
        typer.Option(
            "--token-host",
            help="Host the client secret may be sent to (repeat; exact host or .suffix). Required for "
            "--vendor with a secret; --source defaults to the source's FHIR host.",
        ),
    ] = None,
) -> None:
    """Add (or replace) the registration for one source or one vendor type."""
    from ehrconnect.api.context import build_cipher
    from ehrconnect.catalog.repository import get_source
    from ehrconnect.connections.registrations import add_registration

    if env not in ("sandbox", "live"):
        raise typer.BadParameter("--env must be sandbox or live")
    if (source is None) == (vendor is None):
        raise typer.BadParameter("give exactly one of --source or --vendor")
    secret: str | None = None
    if secret_stdin:
        secret = sys.stdin.readline().strip() or None
    elif ask_secret:
        secret = typer.prompt("Client secret", hide_input=True) or None
    settings = _prepare()
    cipher = build_cipher(settings)

    async def run(session: AsyncSession) -> Any:
        source_id = None
        if source is not None:
            found = await get_source(session, env, source)
            if found is None:
                raise typer.BadParameter(f"no source {source!r} in the {env} catalog")
            source_id = found.id
        return await add_registration(
            session, cipher, environment=env, client_id=client_id, source_id=source_id,
            vendor_type=vendor.lower() if vendor else None, client_secret=secret, auth_method=auth_method,
            scopes=scope or None, token_hosts=token_host or None,
        )

    try:
        row = asyncio.run(_with_session(settings, run))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    target = f"source {row.source_id}" if row.source_id else f"vendor type {row.vendor_type}"
    console.print(f"registered {row.id} ({row.auth_method}) for {target} in {env}")
    print(row.id)


@app.command("list")
def list_(
    env: Annotated[str | None, typer.Option("--env", help="Only this environment.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List registrations from the database and from EHRCONNECT_OAUTH_CLIENTS (no secrets)."""
    from ehrconnect.connections.registrations import (
        SANDBOX_PSEUDO_ID,
        list_registrations,
        settings_pseudo_id,
    )

    settings = _prepare()
    rows = asyncio.run(_with_session(settings, lambda s: list_registrations(s, env)))
    items: list[dict[str, Any]] = [
        {
            "id": r.id, "origin": "database", "environment": r.environment, "source_id": r.source_id,
            "vendor_type": r.vendor_type, "client_id": r.client_id, "auth_method": r.auth_method,
            "has_secret": r.client_secret_encrypted is not None, "scopes": r.scopes,
            "token_hosts": list((r.extra or {}).get("token_hosts") or []),
        }
        for r in rows
    ]
    for entry in settings.oauth_clients:
        items.append({
            "id": settings_pseudo_id(entry), "origin": "settings", "environment": "*", "source_id": entry.source,
            "vendor_type": entry.vendor_type, "client_id": entry.client_id,
            "auth_method": entry.auth_method or ("client_secret_basic" if entry.client_secret else "none"),
            "has_secret": entry.client_secret is not None, "scopes": entry.scopes,
            "token_hosts": list(entry.token_hosts),
        })
    items.append({
        "id": SANDBOX_PSEUDO_ID, "origin": "built-in", "environment": "sandbox", "source_id": None,
        "vendor_type": "sandbox", "client_id": settings.sandbox_client_id, "auth_method": "none",
        "has_secret": False, "scopes": None, "token_hosts": [],
    })
    if json_output:
        print(json.dumps(items))
        return
    columns = ("id", "origin", "environment", "source_id", "vendor_type", "client_id", "auth_method", "has_secret")
    table = Table(*columns)
    for item in items:
        table.add_row(*(str(item[c] if item[c] is not None else "") for c in columns))
    Console().print(table)


@app.command("remove")
def remove(registration_id: str) -> None:
    """Remove a database registration by id (connections made with it fall back to resolution)."""
    from ehrconnect.connections.registrations import remove_registration

    settings = _prepare()
    if not asyncio.run(_with_session(settings, lambda s: remove_registration(s, registration_id))):
        console.print(f"no registration {registration_id}")
        raise typer.Exit(1)
    console.print(f"removed {registration_id}")
