"""The `ehrconnect` command line: serve | worker | db upgrade | keys | catalog | sandbox-ehr | demo."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ehrconnect.config import Settings

app = typer.Typer(help="ehrconnect: patient-mediated SMART on FHIR connections.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys (shown once at creation, stored hashed).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
console = Console(stderr=True)


def _settings() -> Settings:
    return Settings()


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations to the configured database."""
    from ehrconnect.db_migrations import upgrade

    settings = _settings()
    upgrade(settings.resolved_database_url, revision)
    console.print(f"database at revision {revision}")


async def _with_session(fn: Any) -> Any:
    from ehrconnect.kit.db import Database

    db = Database(_settings().resolved_database_url)
    try:
        async with db.session() as session:
            return await fn(session)
    finally:
        await db.dispose()


@keys_app.command("create")
def keys_create(
    org: Annotated[str, typer.Option("--org", help="Organization name (created if new).")],
    env: Annotated[str, typer.Option("--env", help="sandbox or live")],
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    expires_at: Annotated[
        datetime | None, typer.Option("--expires-at", help="Optional expiry (ISO 8601, UTC).")
    ] = None,
    label: Annotated[str | None, typer.Option("--label")] = None,
) -> None:
    """Create an API key and print it once."""
    from ehrconnect.auth.keys import create_key

    if env not in ("sandbox", "live"):
        raise typer.BadParameter("--env must be sandbox or live")
    if expires_at is not None and expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)
    _ensure_schema()
    key = _run(
        _with_session(
            lambda s: create_key(s, organization=org, environment=env, expires_at=expires_at, label=label)
        )
    )
    if json_output:
        print(json.dumps({"key": key.secret, "id": key.id, "org": key.organization, "environment": key.environment}))
    else:
        console.print(f"API key {key.id} for {key.organization} ({key.environment}); it is shown only once:")
        print(key.secret)


@keys_app.command("list")
def keys_list(
    org: Annotated[str | None, typer.Option("--org")] = None,
    json_output: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List keys (never their secrets)."""
    from ehrconnect.auth.keys import key_state, list_keys
    from ehrconnect.kit.time import iso

    _ensure_schema()
    rows = _run(_with_session(lambda s: list_keys(s, org)))
    items = [
        {
            "id": key.id, "org": org_name, "environment": key.environment, "prefix": key.display_prefix,
            "state": key_state(key), "api_version": key.api_version,
            "created_at": iso(key.created_at), "expires_at": iso(key.expires_at),
        }
        for key, org_name in rows
    ]
    if json_output:
        print(json.dumps(items))
        return
    table = Table("id", "org", "environment", "prefix", "state", "created_at")
    for item in items:
        table.add_row(*(str(item[c]) for c in ("id", "org", "environment", "prefix", "state", "created_at")))
    Console().print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke a key by id; requests with it then get 401 invalid_api_key."""
    from ehrconnect.auth.keys import revoke_key

    _ensure_schema()
    if not _run(_with_session(lambda s: revoke_key(s, key_id))):
        console.print(f"no key {key_id}")
        raise typer.Exit(1)
    console.print(f"revoked {key_id}")


def _ensure_schema() -> None:
    """The embedded SQLite default migrates itself; PostgreSQL is migrated explicitly."""
    from ehrconnect.db_migrations import upgrade

    settings = _settings()
    if settings.is_sqlite:
        upgrade(settings.resolved_database_url)


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(help="API processes (PostgreSQL only when > 1).")] = 1,
) -> None:
    """Run the API, hosted pages, sandbox EHR and (by default) an embedded worker."""
    import uvicorn

    settings = _settings()
    # An https public URL means a real deployment even when EHRCONNECT_ENVIRONMENT was forgotten.
    deployed = settings.environment != "development" or settings.public_url.startswith("https://")
    if deployed and settings.insecure_secret():
        console.print("refusing to start: set EHRCONNECT_SECRET_KEY (32+ random characters) outside development")
        raise typer.Exit(2)
    if workers > 1 and settings.is_sqlite:
        console.print("several API processes need PostgreSQL (EHRCONNECT_DATABASE_URL)")
        raise typer.Exit(2)
    _ensure_schema()
    if not settings.is_sqlite:
        _require_migrated(settings)
    uvicorn.run(
        "ehrconnect.app:create_app_from_env", factory=True, host=host, port=port, workers=workers,
        log_level="warning", proxy_headers=True,
    )


def _require_migrated(settings: Settings) -> None:
    from alembic.script import ScriptDirectory

    from ehrconnect.db_migrations import alembic_config, current_revision

    head = ScriptDirectory.from_config(alembic_config(settings.resolved_database_url)).get_current_head()
    current = _run(current_revision(settings.resolved_database_url))
    if current != head:
        console.print(f"database is at {current}, code expects {head}: run `ehrconnect db upgrade`")
        raise typer.Exit(2)


def _mount_optional_commands() -> None:
    """Sub-apps owned by other parts of the package (imported here to keep `--help` in one place)."""
    from ehrconnect.sandbox_ehr.cli import app as sandbox_app

    app.add_typer(sandbox_app, name="sandbox-ehr", help="Run the built-in sandbox EHR alone.")
    from ehrconnect.connections.cli import app as clients_app

    app.add_typer(clients_app, name="clients", help="OAuth client registrations at FHIR sources.")
    from ehrconnect.catalog.cli import app as catalog_app

    app.add_typer(catalog_app, name="catalog")
    from ehrconnect.worker.cli import worker as worker_command

    app.command("worker")(worker_command)


_mount_optional_commands()


def main() -> None:
    app(prog_name="ehrconnect")


if __name__ == "__main__":
    main()
    sys.exit(0)
