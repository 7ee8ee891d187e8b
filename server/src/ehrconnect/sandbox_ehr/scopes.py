"""SMART scopes: parsing v1 (``patient/*.read``) and v2 (``patient/*.rs``) clinical scopes.

SMART App Launch 2.x "Scopes and Launch Context": ``<context>/<type>.<permissions>`` where v2
permissions are an ordered subset of ``cruds`` and v1 permissions are ``read``, ``write`` or ``*``.
The sandbox grants only patient-level read/search scopes, and the identity and launch scopes
listed in :data:`SUPPORTED_NON_CLINICAL`. Scopes with v2 query constraints (``?category=...``),
``user/`` and ``system/`` scopes are not granted (the server may narrow what it grants: the
token response's ``scope`` says what was granted).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from .resources import SUPPORTED_TYPES

SUPPORTED_NON_CLINICAL: Final[tuple[str, ...]] = (
    "openid",
    "fhirUser",
    "profile",
    "launch/patient",
    "offline_access",
    "online_access",
)
_CLINICAL_RE = re.compile(r"^patient/(?P<type>\*|[A-Z][A-Za-z]+)\.(?P<perm>read|write|\*|c?r?u?d?s?)$")


@dataclass(frozen=True, slots=True)
class ClinicalScope:
    """A granted ``patient/`` scope: which type and whether it allows read and search."""

    resource_type: str  # a type name or "*"
    read: bool
    search: bool

    def covers(self, resource_type: str) -> bool:
        """Whether the scope applies to the type."""
        return self.resource_type in ("*", resource_type)


def parse_clinical(scope: str) -> ClinicalScope | None:
    """Parse a patient-level clinical scope, or None when it is not one the sandbox supports."""
    match = _CLINICAL_RE.match(scope)
    if match is None:
        return None
    rtype, perm = match.group("type"), match.group("perm")
    if rtype != "*" and rtype not in SUPPORTED_TYPES:
        return None
    if perm in ("read", "*"):
        return ClinicalScope(rtype, read=True, search=True)
    if perm == "write" or not perm:
        return None
    return ClinicalScope(rtype, read="r" in perm, search="s" in perm)


def grantable(requested: str) -> list[str]:
    """The subset of a requested scope string that the sandbox grants, in request order.

    Clinical scopes are narrowed to what the server can do (read and search): v2
    ``patient/Observation.cruds`` is granted as ``patient/Observation.rs`` and v1
    ``patient/*.*`` as ``patient/*.read``, so the granted ``scope`` never promises writes.
    """
    granted: list[str] = []
    for scope in requested.split():
        if scope in SUPPORTED_NON_CLINICAL:
            narrowed: str | None = scope
        else:
            narrowed = _narrow(scope)
        if narrowed is not None and narrowed not in granted:
            granted.append(narrowed)
    return granted


def _narrow(scope: str) -> str | None:
    clinical = parse_clinical(scope)
    if clinical is None or not (clinical.read or clinical.search):
        return None
    prefix = f"patient/{clinical.resource_type}."
    permission = scope.removeprefix(prefix)
    if permission in ("read", "*"):
        return prefix + "read"
    return prefix + ("r" if clinical.read else "") + ("s" if clinical.search else "")


def allows(scopes: list[str], resource_type: str, interaction: str) -> bool:
    """Whether granted scopes allow ``read`` or ``search`` on a type."""
    for scope in scopes:
        clinical = parse_clinical(scope)
        if clinical is None or not clinical.covers(resource_type):
            continue
        if (interaction == "read" and clinical.read) or (interaction == "search" and clinical.search):
            return True
    return False


_PLAIN: Final[dict[str, str]] = {
    "openid": "Confirm your identity to the app",
    "fhirUser": "Share who you are (your patient record link) with the app",
    "profile": "Share your name and basic profile",
    "launch/patient": "Choose which patient record the app can see (yours)",
    "offline_access": "Keep access when you are not signed in, until you revoke it",
    "online_access": "Keep access only while you are signed in",
}

_TYPE_WORDS: Final[dict[str, str]] = {
    "AllergyIntolerance": "allergies",
    "CarePlan": "care plans",
    "CareTeam": "care teams",
    "Claim": "insurance claims",
    "Condition": "conditions and diagnoses",
    "Coverage": "insurance coverage",
    "Device": "implanted devices",
    "DiagnosticReport": "test reports",
    "DocumentReference": "clinical documents",
    "Encounter": "visits",
    "ExplanationOfBenefit": "insurance explanations of benefit",
    "Goal": "health goals",
    "ImagingStudy": "imaging studies",
    "Immunization": "immunizations",
    "Location": "care locations",
    "Medication": "medications",
    "MedicationRequest": "prescriptions",
    "Observation": "vital signs, lab results and other observations",
    "Organization": "healthcare organizations",
    "Patient": "demographics (name, birth date, contact details)",
    "Practitioner": "clinicians",
    "Procedure": "procedures",
    "Provenance": "record history",
}


def describe(scope: str) -> str:
    """A plain-language description of a granted scope for the consent page."""
    if scope in _PLAIN:
        return _PLAIN[scope]
    clinical = parse_clinical(scope)
    if clinical is None:
        return scope
    what = (
        "your whole health record"
        if clinical.resource_type == "*"
        else "your " + _TYPE_WORDS.get(clinical.resource_type, clinical.resource_type)
    )
    if clinical.read and clinical.search:
        return f"Read and search {what}"
    if clinical.read:
        return f"Read {what}"
    return f"Search {what}"
