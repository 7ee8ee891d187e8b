"""Command line for the sandbox EHR (wired into the main CLI as ``ehrconnect sandbox-ehr``).

ehrconnect sandbox-ehr --port 9000 --client my-app=http://localhost:3000/callback
ehrconnect sandbox-ehr --confidential-client my-app:s3cret=http://localhost:3000/callback
ehrconnect sandbox-ehr --large-patient 5000 patients --json
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from .settings import SandboxSettings, parse_confidential_client, parse_public_client

app = typer.Typer(
    name="sandbox-ehr",
    help="Run the built-in sandbox EHR (SMART on FHIR server with synthetic patients).",
    no_args_is_help=False,
    add_completion=False,
)


def build_settings(clients: list[str], confidential_clients: list[str], large_patients: list[int]) -> SandboxSettings:
    """Settings from the environment plus command-line client and large-patient options."""
    settings = SandboxSettings()
    try:
        extra = [parse_public_client(spec) for spec in clients]
        extra += [parse_confidential_client(spec) for spec in confidential_clients]
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if large_patients and min(large_patients) < 2:
        raise typer.BadParameter("--large-patient needs N >= 2")
    return settings.model_copy(
        update={
            "clients": [*settings.clients, *extra],
            "large_patients": [*settings.large_patients, *large_patients],
        }
    )


@app.callback(invoke_without_command=True)
def main(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 9000,
    client: Annotated[
        list[str] | None,
        typer.Option("--client", help="Register a public client: CLIENT_ID=REDIRECT_URI (repeatable)."),
    ] = None,
    confidential_client: Annotated[
        list[str] | None,
        typer.Option(
            "--confidential-client",
            help="Register a confidential client: CLIENT_ID:SECRET=REDIRECT_URI (repeatable).",
        ),
    ] = None,
    large_patient: Annotated[
        list[int] | None,
        typer.Option(
            "--large-patient",
            help="Add a generated patient 'large<N>' with about N resources (repeatable).",
        ),
    ] = None,
) -> None:
    """Serve the sandbox EHR, unless a subcommand is given."""
    settings = build_settings(client or [], confidential_client or [], large_patient or [])
    ctx.obj = settings
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from .app import create_app
    from .profiles import sandbox_sources

    root = f"http://{host}:{port}"
    typer.echo(f"Sandbox EHR on {root}/ (single process; state is in memory)")
    for source in sandbox_sources(root):
        typer.echo(f"  {source.name:38} {source.fhir_base_url}")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info", proxy_headers=True)


@app.command("patients")
def patients(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """List the test patients with their credentials and resource counts."""
    from .data import test_patients

    settings: SandboxSettings = ctx.obj
    found = test_patients(settings)
    if as_json:
        typer.echo(json.dumps([p.as_dict() for p in found], ensure_ascii=False, indent=2))
        return
    for p in found:
        typer.echo(f"{p.username:22} {p.password:18} {p.resource_count:6}  {p.name} (Patient/{p.id})")
