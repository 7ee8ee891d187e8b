"""`ehrconnect catalog ...`: import vendor endpoint directories, search, disable/hide sources."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from ehrconnect.catalog.importer import ImportSummary, read_catalog
from ehrconnect.catalog.writer import write_catalog

app = typer.Typer(help="The FHIR source catalog: import directories, search, disable/hide.", no_args_is_help=True)
console = Console(stderr=True)
T = TypeVar("T")

EnvOption = Annotated[str, typer.Option("--env", help="live or sandbox")]


def _check_env(env: str) -> str:
    if env not in ("live", "sandbox"):
        raise typer.BadParameter("--env must be live or sandbox")
    return env


def _with_session(fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
    from ehrconnect.cli import _ensure_schema, _settings
    from ehrconnect.kit.db import Database

    _ensure_schema()

    async def run() -> T:
        db = Database(_settings().resolved_database_url)
        try:
            async with db.session() as session:
                return await fn(session)
        finally:
            await db.dispose()

    return asyncio.run(run())


async def import_paths(
    session: AsyncSession, paths: list[Path], environment: str, progress: Any = None
) -> ImportSummary:
    """Read, merge and write directory files; the summary of what changed."""
    callback = progress or (lambda stage, advance, total: None)
    merged, summary = read_catalog(paths, environment, callback)
    await write_catalog(session, environment, merged, summary, callback)
    return summary


@app.command("import")
def import_command(
    paths: Annotated[list[Path], typer.Argument(exists=True, help="Directory files or folders of them.")],
    env: EnvOption = "live",
    json_output: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Import Brands bundles, Endpoint+Organization bundles and Lantern lists (format detected)."""
    environment = _check_env(env)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True, disable=json_output) as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, advance: int, total: int | None) -> None:
            if stage not in tasks:
                label = "reading files" if stage == "read" else "writing sources"
                tasks[stage] = bar.add_task(label, total=total)
            if total is not None:
                bar.update(tasks[stage], total=total)
            bar.update(tasks[stage], advance=advance)

        summary = _with_session(lambda s: import_paths(s, paths, environment, progress))
    if json_output:
        print(json.dumps(summary.as_dict()))
        return
    _print_summary(summary)


def _print_summary(summary: ImportSummary) -> None:
    data = summary.as_dict()
    table = Table("", "count", title=f"catalog import ({summary.environment})")
    for key in ("files_read", "records", "unique_urls", "added", "updated", "unchanged", "merged", "names_added"):
        table.add_row(key.replace("_", " "), str(data[key]))
    for reason, count in data["skipped"].items():
        table.add_row(f"skipped: {reason}", str(count))
    table.add_row("seconds", f"{summary.seconds:.1f}")
    Console().print(table)
    for label, reason in summary.files_skipped.items():
        console.print(f"file skipped: {label} ({reason})")


def _flag_command(action: str) -> Callable[..., None]:
    def command(
        source: Annotated[str, typer.Argument(help="fhirsrc_ id or FHIR base URL")],
        env: EnvOption = "live",
    ) -> None:
        from ehrconnect.catalog.admin import set_flag

        environment = _check_env(env)
        found = _with_session(lambda s: set_flag(s, environment, source, action))
        if found is None:
            console.print(f"no source {source} in {environment}")
            raise typer.Exit(1)
        done = {"disable": "disabled", "enable": "enabled", "hide": "hidden", "unhide": "unhidden"}[action]
        console.print(f"{done} {found.id} ({found.name})")

    command.__doc__ = {
        "disable": "Disable a source: out of search, no new connections.",
        "enable": "Re-enable a disabled source.",
        "hide": "Hide a source from search (it stays reachable by id).",
        "unhide": "Show a hidden source in search again.",
    }[action]
    return command


for _action in ("disable", "enable", "hide", "unhide"):
    app.command(_action)(_flag_command(_action))


@app.command("set-client")
def set_client_command(
    source: Annotated[str, typer.Argument(help="fhirsrc_ id or FHIR base URL")],
    registration: Annotated[str | None, typer.Argument(help="oacl_ registration id")] = None,
    vendor_default: Annotated[
        bool, typer.Option("--vendor-default", help="Use the vendor type's registration again.")
    ] = False,
    env: EnvOption = "live",
) -> None:
    """Pin a source to one OAuth client registration (default: its vendor type's)."""
    from ehrconnect.catalog.admin import UnknownRegistration, set_oauth_client

    environment = _check_env(env)
    if (registration is None) != vendor_default:
        raise typer.BadParameter("give a registration id, or --vendor-default")
    try:
        found = _with_session(lambda s: set_oauth_client(s, environment, source, registration))
    except UnknownRegistration:
        console.print(f"no OAuth client registration {registration} in {environment}")
        raise typer.Exit(1) from None
    if found is None:
        console.print(f"no source {source} in {environment}")
        raise typer.Exit(1)
    console.print(f"{found.id} ({found.name}) uses {registration or f'the {found.type} registration'}")


@app.command("search")
def search_command(
    q: Annotated[str, typer.Argument(help="Search text")],
    env: EnvOption = "live",
    type_: Annotated[str | None, typer.Option("--type", help="Vendor type filter")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 10,
) -> None:
    """Search the catalog as `GET /connections?q=` does (for debugging ranking)."""
    from ehrconnect.catalog.search import search_sources

    environment = _check_env(env)

    async def run(session: AsyncSession) -> list[tuple[str, str, str, str]]:
        page = await search_sources(
            session, environment=environment, q=q, type_=type_, limit=limit, starting_after=None
        )
        return [(h.source.id, h.source.name, h.matched_name or "", h.source.type or "") for h in page.hits]

    table = Table("id", "name", "matched name", "type")
    for row in _with_session(run):
        table.add_row(*row)
    Console().print(table)
