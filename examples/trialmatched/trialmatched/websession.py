"""Signed session cookie (who is signed in) and the CSRF token that every POST must carry.

The cookie holds only a user id, a CSRF token and an issue time, signed with HMAC-SHA256 so it
cannot be forged. It is ``HttpOnly`` and ``SameSite=Lax``: Lax still sends it on the top-level
GET navigation that brings the patient back from ehrconnect to ``/connect/return``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response

COOKIE_NAME = "tm_session"
MAX_AGE_SECONDS = 8 * 3600


@dataclass
class WebSession:
    """The decoded cookie. ``changed`` tells the route to send the cookie back."""

    user_id: int | None = None
    csrf_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    issued_at: int = field(default_factory=lambda: int(time.time()))
    changed: bool = False

    def sign_in(self, user_id: int) -> None:
        """Start a fresh session for this user (new CSRF token: no fixation across sign-in)."""
        self.user_id = user_id
        self.csrf_token = secrets.token_urlsafe(32)
        self.issued_at = int(time.time())
        self.changed = True

    def sign_out(self) -> None:
        self.user_id = None
        self.csrf_token = secrets.token_urlsafe(32)
        self.changed = True

    def csrf_ok(self, submitted: str | None) -> bool:
        """Constant-time comparison of the submitted form token with the session's."""
        return bool(submitted) and hmac.compare_digest(str(submitted), self.csrf_token)


class SessionCodec:
    """Encodes and verifies the cookie value with the app's secret."""

    def __init__(self, secret: str, *, secure: bool) -> None:
        self._key = hashlib.sha256(b"trialmatched-session:" + secret.encode()).digest()
        self.secure = secure

    def _sign(self, payload: bytes) -> str:
        return hmac.new(self._key, payload, hashlib.sha256).hexdigest()

    def encode(self, session: WebSession) -> str:
        body = json.dumps({"u": session.user_id, "c": session.csrf_token, "t": session.issued_at}).encode()
        payload = base64.urlsafe_b64encode(body).rstrip(b"=")
        return payload.decode() + "." + self._sign(payload)

    def decode(self, value: str | None) -> WebSession | None:
        """The session in a valid, unexpired cookie, else ``None``."""
        if not value or "." not in value:
            return None
        payload, _, signature = value.rpartition(".")
        if not hmac.compare_digest(self._sign(payload.encode()), signature):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            user_id, csrf, issued = data["u"], str(data["c"]), int(data["t"])
        except (ValueError, KeyError, TypeError):
            return None
        if time.time() - issued > MAX_AGE_SECONDS or (user_id is not None and not isinstance(user_id, int)):
            return None
        return WebSession(user_id=user_id, csrf_token=csrf, issued_at=issued)

    def load(self, request: Request) -> WebSession:
        """The request's session, or a new anonymous one (marked changed so it gets saved)."""
        session = self.decode(request.cookies.get(COOKIE_NAME))
        if session is None:
            session = WebSession(changed=True)
        return session

    def save(self, response: Response, session: WebSession) -> None:
        """Send the cookie if the session changed."""
        if session.changed:
            response.set_cookie(
                COOKIE_NAME,
                self.encode(session),
                max_age=MAX_AGE_SECONDS,
                httponly=True,
                secure=self.secure,
                samesite="lax",
                path="/",
            )
