"""Unit tests for the pure parts: dates, scopes, bundle loading, large patients."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from ehrconnect.sandbox_ehr import dates
from ehrconnect.sandbox_ehr.data import Dataset, get_dataset
from ehrconnect.sandbox_ehr.data.large import large_patient
from ehrconnect.sandbox_ehr.data.loader import DEFAULT_LAST_UPDATED, SyntheaLoader
from ehrconnect.sandbox_ehr.scopes import allows, describe, grantable, parse_clinical


def test_parse_range_precision() -> None:
    assert dates.parse_range("2013") == (datetime(2013, 1, 1, tzinfo=UTC), datetime(2014, 1, 1, tzinfo=UTC))
    assert dates.parse_range("2013-12") == (
        datetime(2013, 12, 1, tzinfo=UTC),
        datetime(2014, 1, 1, tzinfo=UTC),
    )
    start, end = dates.parse_range("2013-03-04T05:28:45+02:00") or (None, None)
    assert start == datetime(2013, 3, 4, 3, 28, 45, tzinfo=UTC)
    assert end is not None and (end - start).total_seconds() == 1
    assert dates.parse_range("yesterday") is None
    assert dates.parse_range("2013-02-30") is None


def test_date_prefixes() -> None:
    day = dates.parse_range("2020-05-05")
    inside = dates.parse_range("2020-05-05T10:00:00Z")
    later = dates.parse_range("2020-06-01")
    assert day and inside and later
    assert dates.matches("eq", day, inside)
    assert not dates.matches("eq", day, later)
    assert dates.matches("gt", day, later) and dates.matches("ge", day, later)
    assert not dates.matches("lt", day, later) and dates.matches("lt", later, day)
    assert dates.matches("le", day, inside) and dates.matches("ge", day, inside)
    assert dates.matches("sa", day, later) and dates.matches("eb", later, day)
    assert dates.split_prefix("ge2020") == ("ge", "2020")
    assert dates.split_prefix("2020") == ("eq", "2020")


def test_period_range() -> None:
    period = dates.value_range({"start": "2020-01-01", "end": "2020-01-03"})
    assert period == (datetime(2020, 1, 1, tzinfo=UTC), datetime(2020, 1, 4, tzinfo=UTC))
    open_ended = dates.value_range({"start": "2020-01-01"})
    assert open_ended is not None and open_ended[1].year == 9999


@pytest.mark.parametrize(
    ("scope", "read", "search"),
    [
        ("patient/*.read", True, True),
        ("patient/*.*", True, True),
        ("patient/*.rs", True, True),
        ("patient/Observation.r", True, False),
        ("patient/Observation.s", False, True),
        ("patient/Observation.cruds", True, True),
    ],
)
def test_clinical_scopes(scope: str, read: bool, search: bool) -> None:
    parsed = parse_clinical(scope)
    assert parsed is not None
    assert (parsed.read, parsed.search) == (read, search)


def test_unsupported_scopes_are_not_granted() -> None:
    requested = (
        "openid fhirUser launch/patient patient/*.write user/*.read system/*.rs "
        "patient/Observation.rs?category=laboratory patient/Unknown.read patient/Observation.sr "
        "patient/Patient.read patient/Patient.read"
    )
    assert grantable(requested) == ["openid", "fhirUser", "launch/patient", "patient/Patient.read"]


def test_granted_scopes_are_narrowed_to_read_and_search() -> None:
    assert grantable("patient/Observation.cruds patient/*.* patient/Condition.cs patient/Goal.rs") == [
        "patient/Observation.rs",
        "patient/*.read",
        "patient/Condition.s",
        "patient/Goal.rs",
    ]


def test_allows_by_type_and_interaction() -> None:
    scopes = ["patient/Observation.r", "patient/Condition.read"]
    assert allows(scopes, "Observation", "read") and not allows(scopes, "Observation", "search")
    assert allows(scopes, "Condition", "search")
    assert not allows(scopes, "Patient", "read")
    assert describe("patient/Observation.r") == "Read your vital signs, lab results and other observations"


def test_loader_resolves_urn_and_conditional_references() -> None:
    loader = SyntheaLoader()
    loader.add_bundle(
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "fullUrl": "urn:uuid:p1",
                    "resource": {
                        "resourceType": "Practitioner",
                        "id": "p1",
                        "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "42"}],
                    },
                }
            ],
        }
    )
    loader.add_bundle(
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {"fullUrl": "urn:uuid:abc", "resource": {"resourceType": "Patient"}},
                {
                    "fullUrl": "urn:uuid:enc",
                    "resource": {
                        "resourceType": "Encounter",
                        "id": "enc",
                        "subject": {"reference": "urn:uuid:abc"},
                        "participant": [
                            {"individual": {"reference": "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|42"}}
                        ],
                        "period": {"start": "2019-02-03T04:05:06+00:00"},
                    },
                },
            ],
        }
    )
    encounter = loader.resources[("Encounter", "enc")]
    assert encounter["subject"] == {"reference": "Patient/abc"}  # id taken from the urn:uuid
    assert encounter["participant"][0]["individual"] == {"reference": "Practitioner/p1"}
    assert encounter["meta"]["lastUpdated"] == "2019-02-03T04:05:06.000Z"
    assert loader.resources[("Patient", "abc")]["meta"]["lastUpdated"] == DEFAULT_LAST_UPDATED
    dataset = Dataset(loader.resources, loader.patient_ids)
    record = dataset.patients["abc"]
    assert record.keys == {("Patient", "abc"), ("Encounter", "enc"), ("Practitioner", "p1")}


def test_shipped_data_has_no_unresolved_references() -> None:
    dataset = get_dataset()
    assert len(dataset.patients) == 15
    for (rtype, rid), resource in dataset.resources.items():
        assert resource["id"] == rid and resource["resourceType"] == rtype
        assert "urn:uuid:" not in str(resource)
        assert "lastUpdated" in resource["meta"]


@pytest.mark.parametrize("size", [2, 51, 1000])
def test_large_patient_has_exactly_n_resources(size: int) -> None:
    resources = large_patient(size)
    assert len(resources) == size
    assert resources == large_patient(size)  # deterministic
    assert len({r["id"] for r in resources}) == size
    assert get_dataset([size]).patients[f"large-{size}"].resource_count == size
