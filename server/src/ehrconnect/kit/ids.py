"""Prefixed ULID identifiers. Every id the platform mints comes from here."""

from __future__ import annotations

import secrets

from ulid import ULID

PREFIXES = {
    "organization": "org_",
    "api_key": "key_",
    "patient": "pat_",
    "session": "sess_",
    "connection": "conn_",
    "fhir_source": "fhirsrc_",
    "job": "job_",
    "record": "rec_",
    "sync_run": "sync_",
    "oauth_client": "oacl_",
    "webhook": "wh_",
    "event": "evt_",
}


def new_id(kind: str) -> str:
    """A new time-ordered id such as ``sess_01J9YQ8M2X4VZ6P2K5RH7M3KQT``."""
    return f"{PREFIXES[kind]}{ULID()}"


def new_url_token() -> str:
    """128 random bits as 32 lowercase hex characters (hosted session URLs)."""
    return secrets.token_hex(16)


def has_prefix(value: str, kind: str) -> bool:
    return value.startswith(PREFIXES[kind])
