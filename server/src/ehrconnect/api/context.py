"""Process-wide objects the adapters need, hung on `app.state.ctx`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.requests import HTTPConnection

from ehrconnect.auth.ratelimit import RateLimiter
from ehrconnect.config import Settings
from ehrconnect.kit.crypto import TokenCipher
from ehrconnect.kit.db import Database

#: Path prefixes that are not the JSON API (HTML pages, mounted apps, static assets).
NON_API_PREFIXES = ("/c/", "/oauth/", "/sandbox-ehr", "/docs", "/static/", "/hosted/")


def is_api_path(path: str) -> bool:
    return not any(path == p.rstrip("/") or path.startswith(p) for p in NON_API_PREFIXES)


@dataclass
class AppContext:
    settings: Settings
    db: Database
    cipher: TokenCipher
    rate_limiter: RateLimiter
    #: Shared outbound client for EHR calls (connection pooling); created at startup.
    http: httpx.AsyncClient
    #: Extension slots filled by later parts (discovery cache, worker handle, ...).
    extras: dict[str, Any] = field(default_factory=dict)


def get_context(conn: HTTPConnection) -> AppContext:
    ctx: AppContext = conn.app.state.ctx
    return ctx


def build_cipher(settings: Settings) -> TokenCipher:
    secrets = [settings.secret_key.get_secret_value()]
    secrets += [s.strip() for s in settings.previous_secret_keys.split(",") if s.strip()]
    return TokenCipher(secrets)
