"""Client configuration: explicit arguments first, then environment variables.

The ``MEDBLOCKS_*`` variables are read as fallbacks so an application written against the
Medblocks SDK can move to ehrconnect by changing only the base URL and the key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ._errors import ConfigurationError
from ._version import DEFAULT_API_VERSION

#: Hosts that may be reached over plain ``http://`` (development servers only).
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

_KEY_VARS = ("EHRCONNECT_API_KEY", "MEDBLOCKS_API_KEY")
_URL_VARS = ("EHRCONNECT_API_URL", "MEDBLOCKS_API_URL")
_VERSION_VARS = ("EHRCONNECT_API_VERSION", "MEDBLOCKS_API_VERSION")


@dataclass(frozen=True)
class ClientConfig:
    """Resolved connection settings. ``api_key`` is kept out of ``repr`` on purpose."""

    base_url: str
    api_version: str
    api_key: str = field(repr=False)


def _first_env(env: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return value
    return None


def validate_base_url(url: str) -> str:
    """Return ``url`` without a trailing slash, or raise :class:`ConfigurationError`.

    Only ``https://`` is accepted, except ``http://`` to a loopback host: the API key travels
    in every request, so it must never cross a network in clear text.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not host:
        raise ConfigurationError(f"base_url must be an absolute http(s) URL, got {url!r}")
    if scheme == "http" and host not in LOOPBACK_HOSTS:
        raise ConfigurationError(
            "base_url must use https:// (plain http:// is allowed only for localhost, 127.0.0.1 and ::1)"
        )
    if parts.username or parts.password:
        raise ConfigurationError("base_url must not contain credentials; pass api_key instead")
    if parts.query or parts.fragment:
        raise ConfigurationError("base_url must not contain a query string or fragment")
    return url.strip().rstrip("/")


def resolve_config(
    *,
    api_key: str | None,
    base_url: str | None,
    api_version: str | None,
    env: Mapping[str, str] | None = None,
) -> ClientConfig:
    """Combine explicit arguments with ``EHRCONNECT_*`` / ``MEDBLOCKS_*`` environment variables."""
    environ = os.environ if env is None else env
    key = api_key if api_key is not None else _first_env(environ, _KEY_VARS)
    if not key:
        raise ConfigurationError("No API key: pass api_key= or set EHRCONNECT_API_KEY (or MEDBLOCKS_API_KEY)")
    url = base_url if base_url is not None else _first_env(environ, _URL_VARS)
    if not url:
        # No silent default: a self-hosted platform has no universal address, and guessing one
        # would send the key to a server the caller never chose.
        raise ConfigurationError("No base URL: pass base_url= or set EHRCONNECT_API_URL (or MEDBLOCKS_API_URL)")
    version = api_version if api_version is not None else _first_env(environ, _VERSION_VARS)
    return ClientConfig(
        base_url=validate_base_url(url),
        api_version=version or DEFAULT_API_VERSION,
        api_key=key,
    )
