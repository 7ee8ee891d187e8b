"""A self-contained sandbox EHR: SMART App Launch 2.x authorization server and FHIR R4 server
with synthetic (Synthea) patients and fault profiles.

It plays the outside world for ehrconnect, so it imports nothing from the platform. Mounted by
``ehrconnect serve`` under ``/sandbox-ehr``; runnable alone with ``ehrconnect sandbox-ehr`` or
``python -m ehrconnect.sandbox_ehr``. See docs/sandbox-ehr.md.
"""

from __future__ import annotations

from .app import create_app
from .profiles import PROFILES, Profile, SandboxSource, sandbox_sources
from .settings import ClientRegistration, SandboxSettings

__all__ = [
    "PROFILES",
    "ClientRegistration",
    "Profile",
    "SandboxSettings",
    "SandboxSource",
    "create_app",
    "sandbox_sources",
]
