"""Hashing of high-entropy secrets and authenticated encryption of tokens at rest.

API keys and session URL tokens carry >=128 random bits, so a plain SHA-256 is the right
lookup hash (a slow KDF buys nothing for random secrets and would cost every request).
OAuth tokens and PKCE verifiers must be readable again, so they are encrypted with Fernet
(AES-128-CBC + HMAC-SHA256) under a key derived from the server secret; older secrets stay
usable for decryption so the secret can be rotated (`MultiFernet`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def constant_time_equal(left: str, right: str) -> bool:
    return hmac.compare_digest(left.encode(), right.encode())


def _derive_fernet_key(secret: str, purpose: bytes) -> bytes:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"ehrconnect", info=purpose).derive(
        secret.encode()
    )
    return base64.urlsafe_b64encode(key)


class DecryptionError(Exception):
    """Stored ciphertext could not be decrypted with any configured key."""


class TokenCipher:
    """Encrypts secrets at rest. The first secret encrypts; all of them decrypt."""

    def __init__(self, secrets: list[str], purpose: bytes = b"tokens-at-rest/v1") -> None:
        if not secrets:
            raise ValueError("at least one secret is required")
        self._fernet = MultiFernet([Fernet(_derive_fernet_key(s, purpose)) for s in secrets])
        # A separate key (own HKDF label) for MACs, so signing never shares key material with
        # encryption. Only the current secret signs: MACs protect short-lived values.
        self._mac_key = base64.urlsafe_b64decode(_derive_fernet_key(secrets[0], b"mac/v1"))

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as exc:
            raise DecryptionError("stored secret could not be decrypted") from exc

    def rotate(self, ciphertext: str) -> str:
        """Re-encrypt under the current key (for a rotation sweep)."""
        return self._fernet.rotate(ciphertext.encode()).decode()

    def sign(self, message: str) -> str:
        """A keyed MAC, e.g. to bind a CSRF token or cookie to a value."""
        return hmac.new(self._mac_key, message.encode(), hashlib.sha256).hexdigest()
