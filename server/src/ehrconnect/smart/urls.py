"""FHIR base URL normalisation and the origin + path-prefix guard for bearer tokens.

House rule 7: a connection's bearer token is only ever sent to that connection's FHIR base, i.e.
the same origin (scheme, host, port; RFC 6454 §4) *and* a path under the base path, compared on
whole segments so ``/fhir`` never matches ``/fhir-evil``. The guard judges the exact
:class:`httpx.URL` that will be sent (after httpx's own normalisation), and additionally refuses
encoded dot segments and encoded slashes that a server might decode into an escape.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

import httpx

from ._http import describe_url
from .errors import OriginViolation

__all__ = ["DEFAULT_PORTS", "BaseUrlGuard", "normalize_base_url"]

DEFAULT_PORTS = {"http": 80, "https": 443}

# Percent-encoded "/" or "\" inside a path segment: servers that decode them would see extra segments.
_ENCODED_SEPARATOR = re.compile(r"%(2f|5c)", re.IGNORECASE)


def normalize_base_url(url: str) -> str:
    """Canonical form of a FHIR base URL: lowercase scheme/host, no default port, no trailing slash.

    Raises ``ValueError`` for anything that is not an absolute http(s) URL without query,
    fragment or userinfo (a FHIR base is a plain service root, FHIR R4 §3.1.0.1.2).
    """
    try:
        u = httpx.URL(url.strip())
    except httpx.InvalidURL as exc:
        raise ValueError("FHIR base URL is not a valid URL") from exc
    if u.scheme not in DEFAULT_PORTS or not u.host:
        raise ValueError("FHIR base URL must be an absolute http(s) URL")
    if u.userinfo:
        raise ValueError("FHIR base URL must not contain credentials")
    if u.query or u.fragment:
        raise ValueError("FHIR base URL must not contain a query or fragment")
    raw_path = u.raw_path.decode("ascii").split("?", 1)[0]
    _check_path_segments(raw_path)
    port = "" if u.port is None or u.port == DEFAULT_PORTS[u.scheme] else f":{u.port}"
    host = f"[{u.host}]" if ":" in u.host else u.host
    return f"{u.scheme}://{host.lower()}{port}{raw_path.rstrip('/')}"


def _check_path_segments(raw_path: str) -> None:
    """Refuse dot segments (also percent-encoded) and encoded separators anywhere in the path."""
    if _ENCODED_SEPARATOR.search(raw_path) or "\\" in raw_path:
        raise ValueError("path contains an encoded separator")
    for segment in raw_path.split("/"):
        if unquote(segment) in (".", ".."):
            raise ValueError("path contains a dot segment")


class BaseUrlGuard:
    """Decides whether a URL lies within one FHIR base (same origin and under its path prefix)."""

    def __init__(self, fhir_base_url: str) -> None:
        self.base_url = normalize_base_url(fhir_base_url)
        base = httpx.URL(self.base_url)
        self._scheme = base.scheme
        self._host = base.host.lower()
        self._port = base.port or DEFAULT_PORTS[base.scheme]
        # Compare on raw (encoded) paths so an encoded variant cannot alias the prefix.
        self._prefix = base.raw_path.decode("ascii").rstrip("/")

    def url_for(self, path: str) -> httpx.URL:
        """Absolute URL for ``path`` relative to the base (a leading ``/`` is still base-relative)."""
        return self.check(self.base_url + "/" + path.lstrip("/"))

    def contains(self, url: httpx.URL | str) -> bool:
        """True when ``url`` is inside the base (origin equal, path under the prefix)."""
        try:
            self.check(url)
        except OriginViolation:
            return False
        return True

    def check(self, url: httpx.URL | str) -> httpx.URL:
        """Return ``url`` as an :class:`httpx.URL` if inside the base, else raise :class:`OriginViolation`."""
        try:
            u = url if isinstance(url, httpx.URL) else httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise OriginViolation("refusing to send a token to an invalid URL", url="<invalid>") from exc
        safe = describe_url(u) if u.scheme and u.host else "<relative>"
        if not u.is_absolute_url:
            raise OriginViolation("refusing to send a token to a relative URL", url=safe)
        if u.userinfo:
            raise OriginViolation("refusing to send a token to a URL with credentials", url=safe)
        port = u.port or DEFAULT_PORTS.get(u.scheme)
        if u.scheme != self._scheme or u.host.lower() != self._host or port != self._port:
            raise OriginViolation(f"refusing to send a token outside the FHIR origin: {safe}", url=safe)
        raw_path = u.raw_path.decode("ascii").split("?", 1)[0]
        try:
            _check_path_segments(raw_path)
        except ValueError as exc:
            raise OriginViolation(f"refusing to send a token to an ambiguous path: {safe}", url=safe) from exc
        if self._prefix and not (raw_path == self._prefix or raw_path.startswith(self._prefix + "/")):
            raise OriginViolation(f"refusing to send a token outside the FHIR base path: {safe}", url=safe)
        return u
