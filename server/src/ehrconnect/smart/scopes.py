"""Scope selection and parsing (SMART App Launch 2.x, "Scopes and Launch Context").

SMART v1 clinical scopes use ``.read``/``.write``/``.*`` (``patient/*.read``); v2 uses the
``cruds`` permission letters (``patient/*.rs`` = read + search). A server announces v2 with the
``permission-v2`` capability (Conformance, Capabilities) or by listing v2 scopes in
``scopes_supported``. We request v2 only when the server signals it: v1 servers reject v2 syntax,
while v2 servers SHOULD keep accepting v1 scopes for compatibility.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .discovery import SmartConfiguration

__all__ = [
    "BASE_SCOPES",
    "LAUNCH_PATIENT",
    "OFFLINE_ACCESS",
    "PATIENT_READ_V1",
    "PATIENT_READ_V2",
    "default_scopes",
    "format_scopes",
    "is_v2_clinical_scope",
    "parse_scopes",
    "supports_v2_scopes",
]

OFFLINE_ACCESS = "offline_access"
LAUNCH_PATIENT = "launch/patient"
BASE_SCOPES: tuple[str, ...] = ("openid", "fhirUser", OFFLINE_ACCESS)
PATIENT_READ_V1 = "patient/*.read"
PATIENT_READ_V2 = "patient/*.rs"

# v2 clinical scope: (patient|user|system)/(Type|*).<c?r?u?d?s?>[?query]; the letters are in order.
_V2_SCOPE = re.compile(r"(?:patient|user|system)/(?:\*|[A-Za-z]+)\.c?r?u?d?s?(?:\?.*)?")


def is_v2_clinical_scope(scope: str) -> bool:
    """True for a SMART v2 clinical scope such as ``patient/Observation.rs``."""
    if not _V2_SCOPE.fullmatch(scope):
        return False
    # Reject an empty permission string ("patient/*." matches the optional letters).
    perms = scope.split(".", 1)[1].split("?", 1)[0]
    return bool(perms)


def supports_v2_scopes(config: SmartConfiguration) -> bool:
    """Whether the server advertises SMART v2 scopes (``permission-v2`` or v2 ``scopes_supported``)."""
    return config.has_capability("permission-v2") or any(is_v2_clinical_scope(s) for s in config.scopes_supported)


def default_scopes(config: SmartConfiguration | None, *, launch_patient: bool = False) -> list[str]:
    """Scopes for a patient-mediated standalone launch with long-lived access.

    ``openid fhirUser offline_access`` plus ``patient/*.rs`` (v2 server) or ``patient/*.read``.
    ``launch_patient`` adds ``launch/patient`` for servers that only supply patient context when
    asked (SMART 2.x, "Scopes for requesting context data").
    """
    scopes = list(BASE_SCOPES)
    if launch_patient:
        scopes.append(LAUNCH_PATIENT)
    scopes.append(PATIENT_READ_V2 if config is not None and supports_v2_scopes(config) else PATIENT_READ_V1)
    return scopes


def parse_scopes(value: str | None) -> tuple[str, ...]:
    """Split a space-delimited scope string (RFC 6749 §3.3) into unique scopes, order kept."""
    if not value:
        return ()
    return tuple(dict.fromkeys(part for part in value.split(" ") if part))


def format_scopes(scopes: Iterable[str]) -> str:
    """Join scopes with single spaces (RFC 6749 §3.3), dropping duplicates and refusing bad tokens."""
    unique = list(dict.fromkeys(scopes))
    for scope in unique:
        # scope-token = 1*( %x21 / %x23-5B / %x5D-7E ): no spaces, quotes, backslashes or controls.
        if not scope or any(ch in ' "\\' or not 0x21 <= ord(ch) <= 0x7E for ch in scope):
            raise ValueError("invalid scope token (RFC 6749 §3.3)")
    return " ".join(unique)
