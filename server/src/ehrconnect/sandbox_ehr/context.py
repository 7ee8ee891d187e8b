"""Per-app-instance context shared by the OAuth, FHIR and page handlers."""

from __future__ import annotations

import asyncio
import random
import threading
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from . import profiles
from .data import Dataset, get_dataset
from .keys import SigningKey
from .profiles import PROFILES_BY_KEY, Profile
from .settings import SandboxSettings
from .state import AuthState

ROOT_PATH_KEY = "ehrconnect.sandbox_ehr.root_path"


@dataclass(frozen=True, slots=True)
class Fault:
    """A simulated server failure."""

    status: int
    retry_after: int | None


class Sandbox:
    """Settings, data, keys and authorization state of one app instance."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        pem = settings.signing_key_pem.get_secret_value() if settings.signing_key_pem else None
        self.keys = SigningKey(pem)
        self.state = AuthState()
        self._rng = random.Random(settings.flaky_seed)
        self._rng_lock = threading.Lock()
        self._dataset: Dataset | None = None

    async def dataset(self) -> Dataset:
        """The patient data, loaded in a worker thread on first use (then cached per process)."""
        if self._dataset is None:
            self._dataset = await anyio.to_thread.run_sync(get_dataset, self.settings.large_patients)
        return self._dataset

    # URLs: derived from the request and the ASGI root_path where this app is mounted.
    def root_url(self, request: Request) -> str:
        """Absolute URL of the sandbox root (``<root>``), without a trailing slash."""
        if self.settings.public_root_url:
            return self.settings.public_root_url.rstrip("/")
        root_path = request.scope.get(ROOT_PATH_KEY, "")
        return str(request.url.replace(path=root_path or "/", query="", fragment="")).rstrip("/")

    def fhir_base(self, request: Request, profile: Profile) -> str:
        """Absolute FHIR base URL of a profile (``<root>/<profile>/fhir``)."""
        return self.root_url(request) + profile.fhir_suffix

    def oauth_url(self, request: Request, profile: Profile, endpoint: str) -> str:
        """Absolute URL of an OAuth endpoint of a profile."""
        return f"{self.root_url(request)}{profile.oauth_suffix}/{endpoint}"

    # Faults.
    async def delay(self, profile: Profile) -> None:
        """The ``slow`` profile's added latency."""
        if profile.key == profiles.SLOW and self.settings.slow_latency_ms:
            await asyncio.sleep(self.settings.slow_latency_ms / 1000)

    def fhir_fault(self, profile: Profile) -> Fault | None:
        """The ``flaky`` profile's random failure for a FHIR data call (seeded RNG)."""
        if profile.key != profiles.FLAKY:
            return None
        with self._rng_lock:
            if self._rng.random() >= self.settings.flaky_failure_rate:
                return None
            status = self._rng.choice((500, 503, 429))
        retry_after = self.settings.flaky_retry_after_seconds if status in (429, 503) else None
        return Fault(status, retry_after)

    def access_token_lifetime(self, profile: Profile) -> int:
        """Access token lifetime for a profile (``short-token`` uses the short lifetime)."""
        if profile.key == profiles.SHORT_TOKEN:
            return self.settings.short_access_token_lifetime
        return self.settings.access_token_lifetime


def profile_of(request: Request) -> Profile | None:
    """The profile named in the path, or None for an unknown one."""
    key: Any = request.path_params.get("profile")
    return PROFILES_BY_KEY.get(key) if isinstance(key, str) else None


def sandbox_of(request: Request) -> Sandbox:
    """The app instance's context."""
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox


def no_store(response: Response) -> Response:
    """RFC 6749 §5.1: token responses and errors are not cached."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response
