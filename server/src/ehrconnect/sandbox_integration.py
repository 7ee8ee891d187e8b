"""Mounting the built-in sandbox EHR inside the platform (`/sandbox-ehr`)."""

from __future__ import annotations

from fastapi import FastAPI

from ehrconnect.config import Settings


def mount_sandbox_ehr(app: FastAPI, settings: Settings) -> None:
    """Mount the sandbox EHR with the platform's own public client pre-registered.

    The sandbox reads its other knobs from `EHRCONNECT_SANDBOX_*` (large patients, latency...).
    """
    from ehrconnect.sandbox_ehr import create_app as create_sandbox_app
    from ehrconnect.sandbox_ehr.settings import ClientRegistration, SandboxSettings

    sandbox_settings = SandboxSettings()
    platform_client = ClientRegistration(
        client_id=settings.sandbox_client_id, redirect_uris=[settings.oauth_redirect_uri], name="ehrconnect"
    )
    others = [c for c in sandbox_settings.clients if c.client_id != settings.sandbox_client_id]
    sandbox_settings.clients = [platform_client, *others]
    app.mount("/sandbox-ehr", create_sandbox_app(sandbox_settings))
