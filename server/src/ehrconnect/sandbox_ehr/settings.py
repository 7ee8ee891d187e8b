"""Settings for the sandbox EHR (env prefix ``EHRCONNECT_SANDBOX_``).

The sandbox plays the outside world, so it reads no platform settings. The one exception is the
``EHRCONNECT_PUBLIC_URL`` environment variable, read directly to pre-register the platform's own
sandbox client with the redirect URI the platform will use.
"""

from __future__ import annotations

import os
from typing import Annotated

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLATFORM_CLIENT_ID = "ehrconnect-sandbox"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


class ClientRegistration(BaseModel):
    """An OAuth client registered with the sandbox authorization server.

    ``client_secret`` set makes the client confidential (``client_secret_basic`` or
    ``client_secret_post``, RFC 6749 §2.3.1); otherwise it is a public client (PKCE only).
    """

    client_id: Annotated[str, Field(min_length=1)]
    redirect_uris: Annotated[list[str], Field(min_length=1)]
    client_secret: SecretStr | None = None
    name: str | None = None

    @property
    def is_confidential(self) -> bool:
        """True when the client must authenticate at the token endpoint."""
        return self.client_secret is not None


def platform_client() -> ClientRegistration:
    """The platform's own pre-registered public client (redirect to ``{public URL}/oauth/callback``)."""
    public_url = os.environ.get("EHRCONNECT_PUBLIC_URL", DEFAULT_PUBLIC_URL).rstrip("/")
    return ClientRegistration(
        client_id=PLATFORM_CLIENT_ID,
        redirect_uris=[f"{public_url}/oauth/callback"],
        name="ehrconnect",
    )


def parse_public_client(spec: str) -> ClientRegistration:
    """Parse a ``CLIENT_ID=REDIRECT_URI`` command-line spec into a public client."""
    client_id, sep, redirect_uri = spec.partition("=")
    if not sep or not client_id or not redirect_uri:
        raise ValueError(f"expected CLIENT_ID=REDIRECT_URI, got {spec!r}")
    return ClientRegistration(client_id=client_id, redirect_uris=[redirect_uri])


def parse_confidential_client(spec: str) -> ClientRegistration:
    """Parse a ``CLIENT_ID:SECRET=REDIRECT_URI`` command-line spec into a confidential client."""
    credentials, sep, redirect_uri = spec.partition("=")
    client_id, colon, secret = credentials.partition(":")
    if not sep or not colon or not client_id or not secret or not redirect_uri:
        raise ValueError(f"expected CLIENT_ID:SECRET=REDIRECT_URI, got {spec!r}")
    return ClientRegistration(client_id=client_id, redirect_uris=[redirect_uri], client_secret=SecretStr(secret))


class SandboxSettings(BaseSettings):
    """Configuration of one sandbox EHR app instance.

    State (codes, tokens, login transactions) lives in memory, so a sandbox is single-process.
    """

    model_config = SettingsConfigDict(env_prefix="EHRCONNECT_SANDBOX_", extra="ignore")

    # The platform's own public client, always registered (redirect from EHRCONNECT_PUBLIC_URL).
    platform_client: ClientRegistration = Field(default_factory=platform_client)
    # More clients, e.g. EHRCONNECT_SANDBOX_CLIENTS='[{"client_id": "app", "redirect_uris": [...]}]'.
    clients: list[ClientRegistration] = Field(default_factory=list)
    # Lifetimes in seconds.
    access_token_lifetime: int = Field(default=3600, gt=0)
    short_access_token_lifetime: int = Field(default=60, gt=0)
    code_lifetime: int = Field(default=60, gt=0)
    refresh_token_lifetime: int = Field(default=90 * 24 * 3600, gt=0)
    login_transaction_lifetime: int = Field(default=900, gt=0)
    # Fault profiles.
    slow_latency_ms: int = Field(default=1500, ge=0)
    flaky_failure_rate: float = Field(default=0.3, ge=0.0, le=1.0)
    flaky_seed: int = 1
    flaky_retry_after_seconds: int = Field(default=1, ge=0)
    # Extra generated patients: username ``large<N>`` with about N resources.
    large_patients: list[int] = Field(default_factory=list)
    # Every test patient signs in with this password (listed on the login page).
    patient_password: str = "sandbox-password"
    # PEM (PKCS#8 or PKCS#1) RSA private key for id_token signing; generated at startup if unset.
    signing_key_pem: SecretStr | None = None
    # Absolute URL of the sandbox root (e.g. ``https://ehr.example/sandbox-ehr``) when it is served
    # behind a proxy; by default URLs come from the request's base URL and ASGI root_path.
    public_root_url: str | None = None
    default_page_size: int = Field(default=50, gt=0)
    max_page_size: int = Field(default=500, gt=0)

    @field_validator("large_patients")
    @classmethod
    def _large_sizes(cls, value: list[int]) -> list[int]:
        for size in value:
            if size < 2:
                raise ValueError("a large patient needs at least 2 resources")
        return value

    @property
    def all_clients(self) -> list[ClientRegistration]:
        """Every registered client: the platform's, then the configured ones."""
        return [self.platform_client, *self.clients]

    def client(self, client_id: str) -> ClientRegistration | None:
        """The registered client with this id, if any (later registrations win)."""
        found = None
        for registration in self.all_clients:
            if registration.client_id == client_id:
                found = registration
        return found
