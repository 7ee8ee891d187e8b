"""Settings, read from the environment with the prefix ``EHRCONNECT_`` (pydantic-settings)."""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Development-only secret. `serve` refuses to start with it outside development.
DEV_SECRET_KEY = "dev-insecure-secret-key-change-me-0123456789"


class OAuthClientSetting(BaseModel):
    """One client registration configured in settings, for a vendor type or a single source."""

    model_config = ConfigDict(extra="forbid")

    #: Catalog vendor type (e.g. "epic") this registration serves, or
    vendor_type: str | None = None
    #: one source: its `fhirsrc_` id or its FHIR base URL.
    source: str | None = None
    client_id: str
    client_secret: SecretStr | None = None
    auth_method: Literal["none", "client_secret_basic", "client_secret_post"] | None = None
    scopes: list[str] | None = None
    #: Hosts the client secret may be sent to (token/revocation endpoints): exact host names or
    #: `.suffix` entries (subdomains). Required for a vendor-wide registration with a secret.
    token_hosts: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_target(self) -> OAuthClientSetting:
        if (self.vendor_type is None) == (self.source is None):
            raise ValueError("set exactly one of vendor_type or source")
        return self

    @field_validator("token_hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        return [normalize_token_host(v) for v in value]


_TOKEN_HOST = re.compile(r"^\.?[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$")


def normalize_token_host(value: str) -> str:
    """Lower-case one allowed token host (``host.example`` or ``.example.com``); ValueError if invalid.

    A suffix entry needs at least two labels (``.com`` would allow every host under a TLD).
    """
    host = value.strip().lower().removesuffix(".")
    if not _TOKEN_HOST.match(host) or (host.startswith(".") and "." not in host[1:]):
        raise ValueError(f"invalid token host {value!r}: use a host name or a .suffix with two labels")
    return host


class Settings(BaseSettings):
    """Every knob of the platform. See docs/configuration.md for the meaning of each."""

    model_config = SettingsConfigDict(env_prefix="EHRCONNECT_", extra="ignore")

    environment: Literal["development", "production", "test"] = "development"
    data_dir: Path = Path("data")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file in data_dir"
    )
    public_url: str = "http://127.0.0.1:8000"
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    #: Older encryption keys still accepted for decryption (key rotation), comma separated.
    previous_secret_keys: str = ""

    log_level: str = "INFO"
    log_json: bool = False

    max_body_bytes: int = 1_000_000
    rate_limit_per_second: float = 25.0
    rate_limit_burst: int = 100
    idempotency_ttl_seconds: int = 24 * 3600

    sandbox_ehr_enabled: bool = True
    #: Where the sandbox EHR lives; default: mounted in this server at {public_url}/sandbox-ehr.
    sandbox_ehr_url: str | None = None
    sandbox_client_id: str = "ehrconnect-sandbox"
    #: OAuth client registrations from the environment (JSON list; see docs/hosted-flow.md):
    #: [{"vendor_type"|"source": ..., "client_id": ..., "client_secret"?, "auth_method"?, "scopes"?}]
    oauth_clients: list[OAuthClientSetting] = Field(default_factory=list)
    #: How long a started SMART launch (`state`) stays usable (the spec'd 10 minutes).
    oauth_state_ttl_seconds: int = 600

    embedded_worker: bool = True
    sync_interval_seconds: int = 24 * 3600
    worker_poll_seconds: float = 1.0
    worker_lease_seconds: int = 120
    worker_concurrency: int = 4
    token_refresh_leeway_seconds: int = 300
    full_sync_every: int = 7
    #: FHIR search page size asked for with `_count` during a sync.
    sync_page_size: int = 250
    #: FHIR requests in flight at once per source origin, per worker process.
    sync_source_concurrency: int = 4
    #: Use `Patient/$everything` for full passes when the source declares it.
    sync_use_everything: bool = True

    db_pool_size: int = 10

    @field_validator("public_url", "sandbox_ehr_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @cached_property
    def resolved_database_url(self) -> str:
        """The async SQLAlchemy URL to use (drivers asyncpg / aiosqlite are filled in)."""
        url = self.database_url or f"sqlite:///{(self.data_dir / 'ehrconnect.sqlite3').resolve()}"
        return to_async_url(url)

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def sandbox_root_url(self) -> str:
        return self.sandbox_ehr_url or f"{self.public_url}/sandbox-ehr"

    @property
    def oauth_redirect_uri(self) -> str:
        return f"{self.public_url}/oauth/callback"

    def insecure_secret(self) -> bool:
        return self.secret_key.get_secret_value() == DEV_SECRET_KEY or len(
            self.secret_key.get_secret_value()
        ) < 32


def to_async_url(url: str) -> str:
    """Map plain `postgresql://` / `sqlite://` URLs onto the async drivers we ship."""
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain):]
    return url
