"""In-memory authorization state: login transactions, codes, grants and tokens.

The sandbox is single-process: this state lives in the app instance and is lost on restart.
Secrets are stored by SHA-256 hash, so a memory dump or a debug print shows no usable token.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field


def hash_secret(secret: str) -> str:
    """SHA-256 hex digest: how secrets are keyed and compared in memory."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    """A 256-bit URL-safe random string."""
    return secrets.token_urlsafe(32)


@dataclass(slots=True)
class Transaction:
    """An authorize request waiting for the patient to sign in and decide."""

    id: str
    profile: str
    client_id: str
    redirect_uri: str
    state: str
    scopes: list[str]
    code_challenge: str
    nonce: str | None
    csrf_token: str
    browser_hash: str
    expires_at: float
    patient_id: str | None = None


@dataclass(slots=True)
class Grant:
    """What the patient allowed one client; codes and tokens issued for it share its id."""

    id: str
    profile: str
    client_id: str
    patient_id: str
    scopes: list[str]
    nonce: str | None
    revoked: bool = False


@dataclass(slots=True)
class Code:
    """An authorization code (RFC 6749 §4.1.2): single-use, short-lived."""

    grant: Grant
    redirect_uri: str
    code_challenge: str
    expires_at: float
    used: bool = False


@dataclass(slots=True)
class Token:
    """An access or refresh token record."""

    grant: Grant
    kind: str  # "access" | "refresh"
    scopes: list[str]
    expires_at: float
    issued_at: float = field(default_factory=time.time)
    used: bool = False  # refresh tokens: rotated away
    revoked: bool = False

    @property
    def active(self) -> bool:
        """Usable now: not expired, revoked, rotated, and its grant not revoked."""
        return not (self.revoked or self.used or self.grant.revoked) and time.time() < self.expires_at


class AuthState:
    """Thread-safe store for one app instance."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._transactions: dict[str, Transaction] = {}
        self._codes: dict[str, Code] = {}
        self._tokens: dict[str, Token] = {}

    # transactions
    def add_transaction(self, transaction: Transaction) -> None:
        """Remember a pending authorize request."""
        with self._lock:
            self._purge()
            self._transactions[transaction.id] = transaction

    def transaction(self, tx_id: str, browser_key: str | None) -> Transaction | None:
        """A live transaction, only for the browser that started it (its cookie)."""
        with self._lock:
            found = self._transactions.get(tx_id)
            if found is None or time.time() >= found.expires_at:
                return None
            if browser_key is None or not secrets.compare_digest(found.browser_hash, hash_secret(browser_key)):
                return None
            return found

    def finish_transaction(self, tx_id: str) -> None:
        """Forget a transaction once it has produced a redirect."""
        with self._lock:
            self._transactions.pop(tx_id, None)

    # codes
    def issue_code(self, grant: Grant, redirect_uri: str, code_challenge: str, lifetime: int) -> str:
        """Mint an authorization code bound to the grant's client and the redirect URI."""
        code = new_secret()
        with self._lock:
            self._codes[hash_secret(code)] = Code(grant, redirect_uri, code_challenge, time.time() + lifetime)
        return code

    def redeem_code(self, code: str) -> Code | None:
        """Mark a code used and return it; a second use revokes what the first one issued.

        RFC 6749 §4.1.2: codes are single-use and a reused code SHOULD revoke the tokens
        previously issued from it.
        """
        with self._lock:
            found = self._codes.get(hash_secret(code))
            if found is None:
                return None
            if found.used:
                found.grant.revoked = True
                return None
            found.used = True
            if time.time() >= found.expires_at:
                return None
            return found

    # tokens
    def issue_token(self, grant: Grant, kind: str, scopes: list[str], lifetime: int) -> str:
        """Mint an access or refresh token for a grant (``scopes`` may narrow the grant's)."""
        value = new_secret()
        token = Token(grant=grant, kind=kind, scopes=scopes, expires_at=time.time() + lifetime)
        with self._lock:
            self._tokens[hash_secret(value)] = token
        return value

    def token(self, value: str) -> Token | None:
        """The record for a token value (active or not)."""
        with self._lock:
            return self._tokens.get(hash_secret(value))

    def use_refresh_token(self, value: str, client_id: str, profile: str) -> Token | None:
        """Rotate: mark a live refresh token of this client and profile used and return it.

        A used (rotated) token stops working (OAuth 2.0 Security BCP §4.14.2 rotation).
        """
        with self._lock:
            found = self._tokens.get(hash_secret(value))
            if found is None or found.kind != "refresh" or not found.active:
                return None
            if found.grant.client_id != client_id or found.grant.profile != profile:
                return None
            found.used = True
            return found

    def revoke(self, value: str, client_id: str) -> None:
        """RFC 7009 §2.1: revoke a token of this client; a refresh token takes its grant with it."""
        with self._lock:
            found = self._tokens.get(hash_secret(value))
            if found is None or found.grant.client_id != client_id:
                return
            found.revoked = True
            if found.kind == "refresh":
                found.grant.revoked = True

    def _purge(self) -> None:
        now = time.time()
        for key in [k for k, t in self._transactions.items() if t.expires_at <= now]:
            del self._transactions[key]
        for key in [k for k, c in self._codes.items() if c.expires_at + 3600 <= now]:
            del self._codes[key]
        for key in [k for k, t in self._tokens.items() if t.expires_at + 3600 <= now]:
            del self._tokens[key]
