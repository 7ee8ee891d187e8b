"""The sandbox's synthetic patients: the shipped Synthea bundles plus generated large patients.

Data is loaded lazily, once per process, and shared read-only by every app instance.

**resource_count** of a patient is the number of resources the FHIR API serves for that patient
when a client searches every supported type with a patient-scoped token and follows ``next``
links: the resources in the patient's compartment (the Patient itself and every resource whose
compartment element references it, see :mod:`ehrconnect.sandbox_ehr.resources`), plus the
Practitioner, Organization, Location and Medication resources those compartment resources
reference. ``Patient/{id}/$everything`` returns the same set.
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..resources import COMPARTMENT_ELEMENTS, SHARED_TYPES
from ..settings import SandboxSettings
from .large import large_patient
from .loader import Resource, SyntheaLoader, load_synthea, walk_references

__all__ = ["Dataset", "PatientRecord", "TestPatient", "get_dataset", "test_patients"]


@dataclass(frozen=True, slots=True)
class TestPatient:
    """A patient who can sign in to the sandbox portal."""

    __test__ = False  # not a pytest test class

    id: str
    name: str
    username: str
    password: str
    resource_count: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (``patients --json``)."""
        return {
            "id": self.id,
            "name": self.name,
            "username": self.username,
            "password": self.password,
            "resource_count": self.resource_count,
        }


@dataclass(slots=True)
class PatientRecord:
    """One patient's compartment, indexed by type in a stable order."""

    patient: Resource
    username: str
    by_type: dict[str, list[Resource]] = field(default_factory=dict)
    keys: set[tuple[str, str]] = field(default_factory=set)

    @property
    def id(self) -> str:
        """The Patient's FHIR id."""
        return str(self.patient["id"])

    @property
    def display_name(self) -> str:
        """Given and family name, e.g. ``Alberto Atencio``."""
        return display_name(self.patient)

    @property
    def resource_count(self) -> int:
        """Resources the FHIR API serves for this patient (see the module docstring)."""
        return len(self.keys)

    def add(self, resource: Resource) -> None:
        """Add a resource to the compartment (idempotent)."""
        key = (resource["resourceType"], resource["id"])
        if key not in self.keys:
            self.keys.add(key)
            self.by_type.setdefault(key[0], []).append(resource)

    def everything(self) -> list[Resource]:
        """All resources, Patient first, then by type name (stable order)."""
        ordered = list(self.by_type.get("Patient", []))
        for rtype in sorted(self.by_type):
            if rtype != "Patient":
                ordered.extend(self.by_type[rtype])
        return ordered


class Dataset:
    """All resources, plus every patient's compartment and login name."""

    def __init__(self, resources: dict[tuple[str, str], Resource], patient_ids: Iterable[str]) -> None:
        self.resources = resources
        self.patients: dict[str, PatientRecord] = {}
        self.by_username: dict[str, PatientRecord] = {}
        for pid in patient_ids:
            patient = resources[("Patient", pid)]
            record = PatientRecord(patient=patient, username=self._unique_username(patient))
            record.add(patient)
            self.patients[pid] = record
            self.by_username[record.username] = record
        for key, resource in resources.items():
            if key[0] in COMPARTMENT_ELEMENTS:
                for pid in compartment_patients(resource):
                    if pid in self.patients:
                        self.patients[pid].add(resource)
        for record in self.patients.values():
            self._add_shared(record)

    def _unique_username(self, patient: Resource) -> str:
        if str(patient["id"]).startswith("large-"):
            base = "large" + str(patient["id"]).removeprefix("large-")
        else:
            base = username_for(patient)
        candidate, n = base, 2
        while candidate in self.by_username:
            candidate, n = f"{base}{n}", n + 1
        return candidate

    def _add_shared(self, record: PatientRecord) -> None:
        for resource in list(record.everything()):
            for ref in walk_references(resource):
                rtype, _, rid = ref["reference"].partition("/")
                if rtype in SHARED_TYPES and (rtype, rid) in self.resources:
                    record.add(self.resources[(rtype, rid)])


def compartment_patients(resource: Resource) -> set[str]:
    """Ids of the patients whose compartment holds this resource."""
    found: set[str] = set()
    for element in COMPARTMENT_ELEMENTS.get(resource["resourceType"], ()):
        value = resource.get(element)
        for ref in value if isinstance(value, list) else [value]:
            if isinstance(ref, dict):
                target = ref.get("reference")
                if isinstance(target, str) and target.startswith("Patient/"):
                    found.add(target.removeprefix("Patient/"))
    return found


def display_name(patient: Resource) -> str:
    """``given family`` of the first name of a Patient."""
    names = patient.get("name") or [{}]
    first = names[0]
    given = " ".join(first.get("given", []))
    return f"{given} {first.get('family', '')}".strip() or str(patient.get("id"))


def username_for(patient: Resource) -> str:
    """A portal login: first given name and family name, ASCII, lower case (``alberto.atencio``)."""
    names = patient.get("name") or [{}]
    given = str((names[0].get("given") or [""])[0]).split(" ")[0]
    family = str(names[0].get("family", ""))

    def fold(text: str) -> str:
        ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
        return "".join(ch for ch in ascii_text.lower() if ch.isalpha())

    login = f"{fold(given)}.{fold(family)}".strip(".")
    return login or str(patient["id"])


_lock = threading.Lock()
_base: SyntheaLoader | None = None
_datasets: dict[tuple[int, ...], Dataset] = {}


def get_dataset(large_patients: Sequence[int] = ()) -> Dataset:
    """The dataset for this process: Synthea patients plus the requested large patients (cached)."""
    global _base
    sizes = tuple(sorted(set(large_patients)))
    with _lock:
        cached = _datasets.get(sizes)
        if cached is not None:
            return cached
        if _base is None:
            _base = load_synthea()
        resources = dict(_base.resources)
        patient_ids = list(_base.patient_ids)
        for size in sizes:
            generated = large_patient(size)
            for resource in generated:
                resources[(resource["resourceType"], resource["id"])] = resource
            patient_ids.append(generated[0]["id"])
        dataset = Dataset(resources, patient_ids)
        _datasets[sizes] = dataset
        return dataset


def test_patients(settings: SandboxSettings | None = None) -> list[TestPatient]:
    """Every patient who can sign in, with credentials and resource_count."""
    settings = settings or SandboxSettings()
    dataset = get_dataset(settings.large_patients)
    return [
        TestPatient(
            id=record.id,
            name=record.display_name,
            username=record.username,
            password=settings.patient_password,
            resource_count=record.resource_count,
        )
        for record in dataset.patients.values()
    ]


# Named like a test but is not one: keep pytest from collecting it where it is imported.
test_patients.__test__ = False  # type: ignore[attr-defined]
