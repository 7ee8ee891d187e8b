"""What the sandbox FHIR server knows about each resource type it serves.

Compartment membership follows the FHIR R4 Patient CompartmentDefinition
(https://hl7.org/fhir/R4/compartmentdefinition-patient.html): a resource belongs to a patient's
compartment when one of the listed elements references that Patient. Practitioner, Organization,
Location and Medication are not in the Patient compartment; a patient may see the ones that the
resources in their compartment reference (how a portal shows "your care team").
"""

from __future__ import annotations

from typing import Final

# type -> elements whose references place a resource in a patient's compartment
COMPARTMENT_ELEMENTS: Final[dict[str, tuple[str, ...]]] = {
    "AllergyIntolerance": ("patient",),
    "CarePlan": ("subject",),
    "CareTeam": ("subject",),
    "Claim": ("patient",),
    "Condition": ("subject",),
    "Coverage": ("beneficiary",),
    "Device": ("patient",),
    "DiagnosticReport": ("subject",),
    "DocumentReference": ("subject",),
    "Encounter": ("subject",),
    "ExplanationOfBenefit": ("patient",),
    "Goal": ("subject",),
    "ImagingStudy": ("subject",),
    "Immunization": ("patient",),
    "MedicationRequest": ("subject",),
    "Observation": ("subject",),
    "Procedure": ("subject",),
    "Provenance": ("target",),
}

# Not in the Patient compartment; visible when referenced from the patient's compartment.
SHARED_TYPES: Final[tuple[str, ...]] = ("Location", "Medication", "Organization", "Practitioner")

SUPPORTED_TYPES: Final[tuple[str, ...]] = tuple(sorted({"Patient", *COMPARTMENT_ELEMENTS, *SHARED_TYPES}))

# type -> element (a choice type's stem, e.g. "effective") searched by the `date` parameter
DATE_ELEMENTS: Final[dict[str, str]] = {
    "AllergyIntolerance": "recordedDate",
    "CarePlan": "period",
    "CareTeam": "period",
    "Claim": "created",
    "DiagnosticReport": "effective",
    "DocumentReference": "date",
    "Encounter": "period",
    "ExplanationOfBenefit": "created",
    "ImagingStudy": "started",
    "Immunization": "occurrence",
    "Observation": "effective",
    "Procedure": "performed",
}

# types with a `category` token search parameter on the `category` element
CATEGORY_TYPES: Final[frozenset[str]] = frozenset(
    {
        "AllergyIntolerance",
        "CarePlan",
        "CareTeam",
        "Condition",
        "DiagnosticReport",
        "DocumentReference",
        "Goal",
        "MedicationRequest",
        "Observation",
    }
)

COMMON_PARAMS: Final[tuple[str, ...]] = ("_id", "_count", "_lastUpdated")


def search_params(resource_type: str) -> list[str]:
    """Search parameters the server supports for a type (besides ``_count``)."""
    params = ["_id", "_lastUpdated"]
    if resource_type in COMPARTMENT_ELEMENTS:
        params.append("patient")
        if "subject" in COMPARTMENT_ELEMENTS[resource_type]:
            params.append("subject")
    if resource_type in CATEGORY_TYPES:
        params.append("category")
    if resource_type in DATE_ELEMENTS:
        params.append("date")
    return params


def element_values(resource: dict[str, object], stem: str) -> list[object]:
    """Values of an element, expanding a choice type stem (``effective`` -> ``effectiveDateTime``)."""
    values: list[object] = []
    for key, value in resource.items():
        if key == stem or (key.startswith(stem) and key[len(stem) : len(stem) + 1].isupper()):
            if isinstance(value, list):
                values.extend(value)
            else:
                values.append(value)
    return values
