"""What to fetch from a source for one patient, from its CapabilityStatement.

Types come from the FHIR R4 Patient CompartmentDefinition
(https://hl7.org/fhir/R4/compartmentdefinition-patient.html), limited to those the source
declares with the ``search-type`` interaction. Each is searched with the first compartment
parameter the source declares for it (``patient`` where available), ``_count`` per page. A full
pass uses ``Patient/$everything`` instead when the source declares it. Incremental passes add
``_lastUpdated=ge<since>`` (FHIR R4 search §3.1.1.1) on types that declare it. Resources of
other types (Practitioner, Organization, Location, Medication, ...) are not in the compartment;
they are read one by one when compartment resources reference them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from ehrconnect.kit.time import iso
from ehrconnect.smart import ServerCapabilities

#: R4 Patient compartment: type -> search parameters that link a resource to the patient.
PATIENT_COMPARTMENT: dict[str, tuple[str, ...]] = {
    "Account": ("subject",), "AdverseEvent": ("subject",), "AllergyIntolerance": ("patient", "recorder", "asserter"),
    "Appointment": ("actor",), "AppointmentResponse": ("actor",), "AuditEvent": ("patient",),
    "Basic": ("patient", "author"), "BodyStructure": ("patient",), "CarePlan": ("patient", "subject"),
    "CareTeam": ("patient", "subject"), "ChargeItem": ("subject",), "Claim": ("patient", "payee"),
    "ClaimResponse": ("patient",), "ClinicalImpression": ("subject",), "Communication": ("subject", "sender"),
    "CommunicationRequest": ("subject",), "Composition": ("subject", "author"), "Condition": ("patient", "subject"),
    "Consent": ("patient",), "Coverage": ("patient", "beneficiary", "subscriber", "policy-holder", "payor"),
    "CoverageEligibilityRequest": ("patient",), "CoverageEligibilityResponse": ("patient",),
    "DetectedIssue": ("patient",),
    # Not in the R4 compartment list, but patient-linked via Device.patient (US Core searches it so).
    "Device": ("patient",),
    "DeviceRequest": ("patient", "subject"), "DeviceUseStatement": ("subject",),
    "DiagnosticReport": ("patient", "subject"), "DocumentManifest": ("subject", "author", "recipient"),
    "DocumentReference": ("patient", "subject", "author"), "Encounter": ("patient",),
    "EnrollmentRequest": ("subject",), "EpisodeOfCare": ("patient",), "ExplanationOfBenefit": ("patient", "payee"),
    "FamilyMemberHistory": ("patient",), "Flag": ("patient",), "Goal": ("patient",), "Group": ("member",),
    "ImagingStudy": ("patient",), "Immunization": ("patient",), "ImmunizationEvaluation": ("patient",),
    "ImmunizationRecommendation": ("patient",), "Invoice": ("subject", "patient", "recipient"),
    "List": ("subject", "source"), "MeasureReport": ("patient",), "Media": ("subject",),
    "MedicationAdministration": ("patient", "performer", "subject"),
    "MedicationDispense": ("subject", "patient", "receiver"),
    "MedicationRequest": ("subject",), "MedicationStatement": ("subject",), "MolecularSequence": ("patient",),
    "NutritionOrder": ("patient",), "Observation": ("subject", "performer"), "Person": ("patient",),
    "Procedure": ("patient", "performer"), "Provenance": ("patient",), "QuestionnaireResponse": ("subject", "author"),
    "RelatedPerson": ("patient",), "RequestGroup": ("subject", "participant"), "ResearchSubject": ("individual",),
    "RiskAssessment": ("subject",), "Schedule": ("actor",), "ServiceRequest": ("subject", "performer"),
    "Specimen": ("subject",), "SupplyDelivery": ("patient",), "SupplyRequest": ("requester",),
    "VisionPrescription": ("patient",),
}

# Parameters we prefer over the compartment list's first entry: they take a bare patient id.
_PREFERRED = ("patient", "subject")


@dataclass(frozen=True)
class Step:
    """One unit of fetching. `kind`: everything | read | search | references."""

    kind: Literal["everything", "read", "search", "references"]
    resource_type: str | None = None
    params: tuple[tuple[str, str], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "resource_type": self.resource_type, "params": [list(p) for p in self.params]}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Step:
        return cls(doc["kind"], doc.get("resource_type"), tuple((str(a), str(b)) for a, b in doc.get("params", [])))


def patient_param(caps: ServerCapabilities, resource_type: str) -> str | None:
    """The search parameter to find `resource_type` resources of one patient, if the source has one."""
    declared = caps.search_params(resource_type)
    for name in _PREFERRED:
        if name in declared and name in PATIENT_COMPARTMENT.get(resource_type, (name,)):
            return name
    for name in PATIENT_COMPARTMENT.get(resource_type, ()):
        if name in declared and name not in ("author", "performer", "recorder", "asserter", "sender"):
            return name
    return None


def compartment_types(caps: ServerCapabilities) -> list[str]:
    """Compartment types the source lets us search by patient, sorted."""
    return sorted(
        t for t in PATIENT_COMPARTMENT
        if caps.supports_search(t) and patient_param(caps, t) is not None
    )


def build_plan(
    caps: ServerCapabilities,
    patient_id: str,
    *,
    mode: Literal["full", "incremental"],
    since: datetime | None,
    page_size: int,
    use_everything: bool,
) -> list[Step]:
    """The steps of one sync run, in order."""
    count = ("_count", str(page_size))
    if mode == "full" and use_everything and caps.supports_patient_everything:
        return [Step("everything", None, (count,))]
    steps = [Step("read", "Patient", (("id", patient_id),))]
    for rtype in compartment_types(caps):
        param = patient_param(caps, rtype)
        assert param is not None
        params: list[tuple[str, str]] = [(param, patient_id)]
        if mode == "incremental" and since is not None and caps.supports_last_updated(rtype):
            params.append(("_lastUpdated", f"ge{iso(since)}"))
        params.append(count)
        steps.append(Step("search", rtype, tuple(params)))
    steps.append(Step("references"))
    return steps


#: FHIR R4 ``id`` datatype (https://hl7.org/fhir/R4/datatypes.html#id).
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def valid_fhir_id(value: str) -> bool:
    """A FHIR logical id that is also safe as one URL path segment (``.``/``..`` are not)."""
    return FHIR_ID.fullmatch(value) is not None and value not in (".", "..")


def shared_references(resource: dict[str, Any], readable: frozenset[str]) -> set[tuple[str, str]]:
    """Relative references (``Type/id``) in `resource` to readable types outside the compartment.

    Ids that are not valid FHIR ids are ignored: they would name another URL (``..``), not a
    resource."""
    found: set[tuple[str, str]] = set()
    stack: list[Any] = [resource]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("reference")
            if isinstance(ref, str) and ref.count("/") == 1 and not ref.startswith(("#", "urn:")):
                rtype, _, rid = ref.partition("/")
                if (
                    rtype in readable and rtype not in PATIENT_COMPARTMENT and rtype != "Patient"
                    and valid_fhir_id(rid)
                ):
                    found.add((rtype, rid))
            stack.extend(v for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend(v for v in node if isinstance(v, dict | list))
    return found
