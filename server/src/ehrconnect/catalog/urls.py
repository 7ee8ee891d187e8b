"""Normalization of FHIR base URLs: the identity that keeps `fhirsrc_` ids stable."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_LIKE = re.compile(r"^[A-Za-z0-9.-]+\.[A-Za-z]{2,}(:\d+)?(/|$)")


def normalize_base_url(url: str) -> str:
    """Lower-case the whole URL; drop default ports, query, fragment and trailing slashes.

    The path is folded too: vendor lists name the same server as `/FHIR` in one place and
    `/fhir` in another (IIS-hosted Allscripts and Epic bases, 44 such pairs in Lantern's
    lists). Tenant ids in paths differing only by case are not seen in published directories;
    the original spelling is kept in `fhir_base_url` and used for every request.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    netloc = host
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc = f"{host}:{port}"
    path = parts.path.rstrip("/").lower()
    return urlunsplit((scheme, netloc, path, "", ""))


def source_key(url: str) -> str | None:
    """The catalog identity of ``url`` (what `FhirSource.normalized_base_url` holds), or None
    when it is not a parseable absolute http(s) URL.

    Use this for every "is this the same source?" comparison, so lookups, client registrations and
    imports agree on identity (the SMART client's own `smart.urls.normalize_base_url` keeps path
    case and is for request guards, not identity).
    """
    if not looks_like_url(url.strip()):
        return None
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:  # e.g. "http://[abc" (unbalanced IPv6 bracket)
        return None
    if not parts.hostname:
        return None
    return normalize_base_url(url)


def repair_url(raw: str) -> str | None:
    """A usable absolute http(s) URL from a directory's value, or None.

    Directories carry `: https://host/...` and scheme-less `host/path` values; a bare host
    gets `https://` (SMART requires TLS anyway).
    """
    text = raw.strip().lstrip(":").strip()
    if not text:
        return None
    if not looks_like_url(text):
        if not _HOST_LIKE.match(text):
            return None
        text = "https://" + text
    parts = urlsplit(text)
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return None
    if not parts.hostname or " " in text:
        return None
    return text.rstrip("/")


def looks_like_url(value: str) -> bool:
    return value.lower().startswith(("https://", "http://"))
