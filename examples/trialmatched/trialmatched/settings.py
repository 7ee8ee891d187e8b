"""Configuration from the environment. The ehrconnect key is read here and nowhere else."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

log = logging.getLogger("trialmatched")


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of an absolute URL (for the CSP ``form-action`` list)."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        raise ValueError(f"not an absolute URL: {url!r}")
    return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True)
class AppSettings:
    """Everything the app needs. ``api_key`` stays on the server: no template ever receives it."""

    api_key: str
    api_url: str
    public_url: str = "http://127.0.0.1:8001"
    database: Path = Path("trialmatched.sqlite3")
    #: Signs the session cookie. A random one is fine for a demo (sign-ins end at restart).
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    #: Origin of ehrconnect's hosted pages (where "Connect" redirects the browser); defaults to
    #: the API URL's origin. Needed because CSP ``form-action`` also governs form redirects.
    connect_origin: str | None = None
    #: Stop counting records after this many (the home page says "5000+").
    records_count_cap: int = 5000
    #: Mark the session cookie ``Secure``; on automatically when public_url is https.
    secure_cookies: bool | None = None

    def __post_init__(self) -> None:
        if not self.api_key:
            raise ValueError("EHRCONNECT_API_KEY is required")
        origin_of(self.api_url)
        origin_of(self.public_url)

    @property
    def public_base(self) -> str:
        return self.public_url.rstrip("/")

    @property
    def return_url(self) -> str:
        """Where ehrconnect sends the patient back after connecting (``/connect/return``)."""
        return f"{self.public_base}/connect/return"

    @property
    def hosted_origin(self) -> str:
        return origin_of(self.connect_origin or self.api_url)

    @property
    def cookie_secure(self) -> bool:
        if self.secure_cookies is not None:
            return self.secure_cookies
        return self.public_url.startswith("https://")

    def __repr__(self) -> str:  # never print the key, even in a traceback or debugger
        return f"AppSettings(api_url={self.api_url!r}, public_url={self.public_url!r}, database={self.database!r})"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, port: int | None = None) -> AppSettings:
        """Read ``EHRCONNECT_API_KEY``, ``EHRCONNECT_API_URL`` and ``TRIALMATCHED_*``."""
        env = os.environ if env is None else env
        public_url = env.get("TRIALMATCHED_PUBLIC_URL") or f"http://127.0.0.1:{port or 8001}"
        secret = env.get("TRIALMATCHED_SECRET_KEY")
        if not secret:
            log.warning("TRIALMATCHED_SECRET_KEY not set: using a random one (sign-ins end at restart)")
            secret = secrets.token_urlsafe(32)
        return cls(
            api_key=env.get("EHRCONNECT_API_KEY", ""),
            api_url=env.get("EHRCONNECT_API_URL", "http://127.0.0.1:8000"),
            public_url=public_url,
            database=Path(env.get("TRIALMATCHED_DATABASE", "trialmatched.sqlite3")),
            secret_key=secret,
            connect_origin=env.get("TRIALMATCHED_CONNECT_ORIGIN") or None,
        )
