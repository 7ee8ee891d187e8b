"""Fault profiles: the same sandbox EHR served at several base URLs, each misbehaving in one way.

Each profile's FHIR base URL is ``<root>/<profile>/fhir`` and its OAuth endpoints live under
``<root>/<profile>/oauth/``. The platform seeds its sandbox catalog from :func:`sandbox_sources`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class Profile:
    """One fault profile."""

    key: str
    display_name: str
    description: str

    @property
    def fhir_suffix(self) -> str:
        """Path of the FHIR base URL relative to the sandbox root."""
        return f"/{self.key}/fhir"

    @property
    def oauth_suffix(self) -> str:
        """Path of the OAuth endpoints relative to the sandbox root."""
        return f"/{self.key}/oauth"


@dataclass(frozen=True, slots=True)
class SandboxSource:
    """A catalog entry for one profile, with absolute URLs."""

    name: str
    fhir_base_url: str
    profile: str
    description: str


NORMAL: Final = "normal"
SLOW: Final = "slow"
FLAKY: Final = "flaky"
SHORT_TOKEN: Final = "short-token"
REFRESH_REVOKED: Final = "refresh-revoked"
DENY: Final = "deny"
PORTAL_DOWN: Final = "portal-down"
NO_OFFLINE: Final = "no-offline"

PROFILES: Final[tuple[Profile, ...]] = (
    Profile(NORMAL, "Sandbox Health", "Well-behaved SMART on FHIR R4 server with synthetic patients."),
    Profile(SLOW, "Sandbox Health (slow)", "Every request is answered after an added delay."),
    Profile(
        FLAKY,
        "Sandbox Health (flaky)",
        "FHIR data calls fail at random with 500, 503 or 429 (with Retry-After).",
    ),
    Profile(SHORT_TOKEN, "Sandbox Health (short tokens)", "Access tokens expire after 60 seconds."),
    Profile(
        REFRESH_REVOKED,
        "Sandbox Health (refresh revoked)",
        "Refresh tokens are issued but always rejected with invalid_grant.",
    ),
    Profile(DENY, "Sandbox Health (consent denied)", "The patient always refuses consent."),
    Profile(PORTAL_DOWN, "Sandbox Health (portal down)", "The sign-in portal answers 503."),
    Profile(
        NO_OFFLINE,
        "Sandbox Health (no offline access)",
        "Refresh tokens are never issued, even when offline_access is asked.",
    ),
)

PROFILES_BY_KEY: Final[dict[str, Profile]] = {profile.key: profile for profile in PROFILES}


def sandbox_sources(root_url: str) -> list[SandboxSource]:
    """Catalog entries for every profile, given the sandbox root URL.

    ``root_url`` is where the sandbox app is reachable, e.g. ``http://127.0.0.1:8000/sandbox-ehr``
    when mounted in ``ehrconnect serve``, or ``http://127.0.0.1:9000`` when run alone.
    """
    root = root_url.rstrip("/")
    return [
        SandboxSource(
            name=profile.display_name,
            fhir_base_url=f"{root}{profile.fhir_suffix}",
            profile=profile.key,
            description=profile.description,
        )
        for profile in PROFILES
    ]
