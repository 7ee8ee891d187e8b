"""PKCE (RFC 7636) with the S256 method only, as SMART App Launch 2.x requires.

SMART App Launch 2.x (App Launch, "Obtain authorization code"): apps SHALL use PKCE with
``code_challenge_method=S256``; servers SHALL support S256 and SHALL NOT support ``plain``.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import string
from dataclasses import dataclass, field

from .discovery import SmartConfiguration
from .errors import PkceNotSupported

__all__ = [
    "S256",
    "PkcePair",
    "code_challenge_s256",
    "create_pkce_pair",
    "ensure_s256_supported",
    "generate_code_verifier",
]

S256 = "S256"

# RFC 7636 §4.1: code-verifier = 43*128unreserved; unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"
_UNRESERVED = string.ascii_letters + string.digits + "-._~"
_VERIFIER_RE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
_MIN_LEN, _MAX_LEN = 43, 128


def generate_code_verifier(length: int = 64) -> str:
    """A fresh code verifier of ``length`` (43..128) unreserved characters from the OS CSPRNG.

    Base64url characters are unreserved and carry 6 bits each, so the default 64 gives 384 bits,
    far above the 256 bits RFC 7636 §7.1 recommends. One `token_urlsafe` call instead of a
    `secrets.choice` per character keeps this off the launch hot path's profile.
    """
    if not _MIN_LEN <= length <= _MAX_LEN:
        raise ValueError("code verifier length must be between 43 and 128 (RFC 7636 §4.1)")
    return secrets.token_urlsafe(length)[:length]


def code_challenge_s256(verifier: str) -> str:
    """``BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))`` without padding (RFC 7636 §4.2)."""
    if not _VERIFIER_RE.fullmatch(verifier):
        raise ValueError("code verifier must be 43..128 unreserved characters (RFC 7636 §4.1)")
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class PkcePair:
    """A verifier (secret: keep server-side, encrypted at rest) and its S256 challenge."""

    verifier: str = field(repr=False)
    challenge: str
    method: str = S256


def create_pkce_pair(length: int = 64) -> PkcePair:
    """Generate a verifier and its S256 challenge."""
    verifier = generate_code_verifier(length)
    return PkcePair(verifier=verifier, challenge=code_challenge_s256(verifier))


def ensure_s256_supported(config: SmartConfiguration) -> None:
    """Raise :class:`PkceNotSupported` if the server lists challenge methods without S256.

    An absent ``code_challenge_methods_supported`` is not a refusal: we still send S256 (servers
    predating SMART 2.x commonly omit the field yet accept PKCE, and an ignoring server is harmless).
    """
    if not config.supports_s256:
        raise PkceNotSupported(
            "server does not support PKCE S256 (code_challenge_methods_supported lacks S256)",
            url=config.fhir_base_url,
        )
