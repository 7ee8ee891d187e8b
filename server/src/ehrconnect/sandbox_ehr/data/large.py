"""Generated "large" patients for benchmarks and tests.

``large_patient(N)`` returns resources for a patient with username ``large<N>`` whose compartment
holds exactly N resources: the Patient, one Encounter per 50 resources, and Observations for the
rest. Everything is derived from N and the position, so ids and values are stable across runs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ..dates import format_instant

Resource = dict[str, Any]

_EPOCH = datetime(2015, 1, 5, 9, 0, tzinfo=UTC)
_VITALS = (
    ("8867-4", "Heart rate", "/min", 60.0, 40.0),
    ("9279-1", "Respiratory rate", "/min", 12.0, 8.0),
    ("8310-5", "Body temperature", "Cel", 36.4, 1.2),
    ("29463-7", "Body Weight", "kg", 60.0, 30.0),
)
_LABS = (
    ("2339-0", "Glucose [Mass/volume] in Blood", "mg/dL", 70.0, 60.0),
    ("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "mg/dL", 150.0, 90.0),
    ("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 11.0, 6.0),
)


def large_patient_id(size: int) -> str:
    """FHIR id of the generated patient with ``size`` resources."""
    return f"large-{size}"


def large_patient(size: int) -> list[Resource]:
    """Resources (Patient first) of a generated patient whose compartment holds ``size`` resources."""
    pid = large_patient_id(size)
    patient_ref = {"reference": f"Patient/{pid}"}
    resources: list[Resource] = [
        {
            "resourceType": "Patient",
            "id": pid,
            "meta": {"versionId": "1", "lastUpdated": format_instant(_EPOCH)},
            "identifier": [{"system": "urn:ehrconnect:sandbox-ehr:large-patient", "value": str(size)}],
            "active": True,
            "name": [{"use": "official", "family": "Large", "given": [f"Patient{size}"]}],
            "gender": "female",
            "birthDate": "1970-01-01",
        }
    ]
    rest = size - 1
    encounters = max(1, rest // 50)
    observations = rest - encounters
    encounter_ids = [f"{pid}-enc-{i}" for i in range(encounters)]
    for i, eid in enumerate(encounter_ids):
        start = _EPOCH + timedelta(days=7 * i)
        resources.append(
            {
                "resourceType": "Encounter",
                "id": eid,
                "meta": {"versionId": "1", "lastUpdated": format_instant(start)},
                "status": "finished",
                "class": {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": "AMB",
                },
                "type": [{"text": "Check-up"}],
                "subject": patient_ref,
                "period": {"start": _iso(start), "end": _iso(start + timedelta(minutes=30))},
            }
        )
    for i in range(observations):
        encounter_index = min(i * encounters // max(observations, 1), encounters - 1)
        when = _EPOCH + timedelta(days=7 * encounter_index, minutes=i % 30)
        is_lab = i % 3 == 2
        code, display, unit, base, spread = (_LABS if is_lab else _VITALS)[i % (3 if is_lab else 4)]
        category = "laboratory" if is_lab else "vital-signs"
        value = round(base + spread * ((i * 37) % 100) / 100, 1)
        resources.append(
            {
                "resourceType": "Observation",
                "id": f"{pid}-obs-{i}",
                "meta": {"versionId": "1", "lastUpdated": format_instant(when)},
                "status": "final",
                "category": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                "code": category,
                                "display": category,
                            }
                        ]
                    }
                ],
                "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": display}]},
                "subject": patient_ref,
                "encounter": {"reference": f"Encounter/{encounter_ids[encounter_index]}"},
                "effectiveDateTime": _iso(when),
                "valueQuantity": {
                    "value": value,
                    "unit": unit,
                    "system": "http://unitsofmeasure.org",
                    "code": unit,
                },
            }
        )
    return resources


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S+00:00")
