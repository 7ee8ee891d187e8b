"""Normalization of FHIR base URLs: the identity that keeps `fhirsrc_` ids stable."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_base_url(url: str) -> str:
    """Lower-case scheme and host, drop default ports, query, fragment and trailing slashes.

    The path keeps its case: FHIR servers' paths are case-sensitive (e.g. `/FHIR/R4`).
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    netloc = host
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(scheme):
        netloc = f"{host}:{parts.port}"
    path = parts.path.rstrip("/")
    return urlunsplit((scheme, netloc, path, "", ""))


def looks_like_url(value: str) -> bool:
    return value.startswith(("https://", "http://"))
