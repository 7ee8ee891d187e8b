"""URL normalization and repair, FHIR version and vendor inference, skip rules, query parsing, ranking."""

from __future__ import annotations

import pytest
from ehrconnect.catalog.ranking import Candidate, parse_query, rank, score
from ehrconnect.catalog.text import edit_distance, fold, split_state_prefix
from ehrconnect.catalog.urls import normalize_base_url, repair_url
from ehrconnect.catalog.vendors import (
    fhir_version_from_url,
    skip_reason,
    vendor_type_from_list_name,
    vendor_type_from_url,
)


def test_normalize_folds_case_slash_and_default_port() -> None:
    assert normalize_base_url("HTTPS://Fhir.Example.COM:443/FHIR/R4/") == "https://fhir.example.com/fhir/r4"
    assert normalize_base_url("https://h.example.com:9443/x/") == "https://h.example.com:9443/x"
    assert normalize_base_url("https://fhir.northwell.edu/fhir") == normalize_base_url("https://fhir.northwell.edu/FHIR")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (": https://fhirserver.astronautehr.com:9443/fhir-server/api/v4/", "https://fhirserver.astronautehr.com:9443/fhir-server/api/v4"),
        ("beta.cyfluentchart.com/FHIRapi/", "https://beta.cyfluentchart.com/FHIRapi"),
        ("not a url", None),
        ("", None),
        ("https://host.example.com:notaport/x", None),
    ],
)
def test_repair_url(raw: str, expected: str | None) -> None:
    assert repair_url(raw) == expected


@pytest.mark.parametrize(
    ("url", "version"),
    [
        ("https://fhir-myrecord.cerner.com/dstu2/abc", "1.0.2"),
        ("https://epicproxy.et1043.epichosted.com/FHIRProxy/api/FHIR/DSTU2/", "1.0.2"),
        ("https://mtrestapis-live01.whitmanhospital.com/v2/argonaut/v1", "1.0.2"),
        ("https://fhir.ep0.hos.allscriptscloud.com/r2/fhir", "1.0.2"),
        ("https://x.example.com/fhir/STU3", "3.0.2"),
        ("https://api.platform.athenahealth.com/fhir/r4", "4.0.1"),
        ("https://fhir.trimed.cloud", None),
        ("https://pep.api.mayo.edu/epicfhirdstu2mu/v1/api/fhir/r4", "4.0.1"),
    ],
)
def test_fhir_version_from_url(url: str, version: str | None) -> None:
    assert fhir_version_from_url(url) == version


@pytest.mark.parametrize(
    ("url", "env", "reason"),
    [
        ("https://fhir-ehr.cerner.com/r4/abc", "live", "provider_facing"),
        ("https://fhir.fhirpoint.open.allscripts.com/fhirroute/open/1421", "live", "open_endpoint"),
        ("https://ehr-fhir.piedmonthealthcare.com/r4/open-r4", "live", "open_endpoint"),
        ("http://developer.carepaths.com/x/api", "live", "insecure_url"),
        ("http://developer.carepaths.com/x/api", "sandbox", None),
        ("https://sears-17-1-app.services.local/fhir", "live", "private_host"),
        ("https://cpsdev-2022:9443/cpsdemoAPIServer/fhir/r4", "live", "private_host"),
        ("https://10.1.2.3/fhir", "live", "private_host"),
        ("https://hl7.org/fhir/R4/http.html", "live", "not_fhir_base"),
        ("https://fhir.fhirpoint.open.allscripts.com/fhirroute/fhir/1421", "live", None),
    ],
)
def test_skip_reasons(url: str, env: str, reason: str | None) -> None:
    assert skip_reason(url, env) == reason


def test_vendor_inference() -> None:
    assert vendor_type_from_list_name("Epic Systems Corporation") == "epic"
    assert vendor_type_from_list_name("Medical Information Technology, Inc. (MEDITECH)") == "meditech"
    assert vendor_type_from_list_name("Veradigm") == "veradigm"
    assert vendor_type_from_list_name("Carepaths, Inc.") == "carepaths"
    assert vendor_type_from_list_name("1Up") is None  # an aggregator: the URL decides
    assert vendor_type_from_url("https://fhir.healow.com/FHIRServer/fhir/EHEDBD") == "eclinicalworks"
    assert vendor_type_from_url("https://fhir-myrecord.cerner.com/r4/x") == "cerner"
    assert vendor_type_from_url("https://haiku.bshsi.org/FHIRProxy/api/FHIR/R4") == "epic"
    assert vendor_type_from_url("https://fhir.trimed.cloud") is None


def test_fold_and_state_prefix() -> None:
    assert fold("St. Luke's Hospital \u2013 Caf\u00e9 & Clinic") == "st lukes hospital cafe and clinic"
    assert split_state_prefix("NC - Sollus Pediatrics") == ("Sollus Pediatrics", "NC")
    assert split_state_prefix("XY - Not A State") == ("XY - Not A State", None)


def test_edit_distance_counts_a_transposition_once() -> None:
    assert edit_distance("clinic", "clinci", 2) == 1
    assert edit_distance("clinic", "clinc", 2) == 1
    assert edit_distance("hospital", "hsopitla", 2) == 2
    assert edit_distance("abc", "xyz", 1) == 2  # capped at limit + 1


def test_short_queries_browse() -> None:
    assert parse_query("a") is None
    assert parse_query("  ") is None
    assert parse_query(None) is None
    parsed = parse_query("The Mayo  Clinic")
    assert parsed is not None and parsed.tokens == ("mayo", "clinic")


def _candidate(name: str, source: str, *, kind: str = "primary", place: str = "", vendor: str = "") -> Candidate:
    return Candidate(source, name, fold(name), kind, None, place, vendor)


def test_ranking_tiers_exact_then_prefix_then_words_then_other_fields_then_typos() -> None:
    query = parse_query("mercy hospital")
    assert query is not None
    ranked = rank(query, [
        _candidate("Hospital of Mercy Springs", "s3"),
        _candidate("Mercy Hospital Joplin", "s2"),
        _candidate("Mercy Hospital", "s1"),
        _candidate("Mercy Clinic", "s4", place="hospital"),
        _candidate("Mercy Hospitl", "s5"),
        _candidate("Unrelated", "s6"),
    ])
    assert [c.source_id for _, c in ranked] == ["s1", "s2", "s3", "s4", "s5"]
    assert [key[0] for key, _ in ranked] == [0, 1, 2, 3, 4]


def test_ranking_dedupes_by_source_best_name_wins() -> None:
    query = parse_query("sollus pediatrics")
    assert query is not None
    ranked = rank(query, [
        _candidate("athenahealth", "athena", vendor="athenahealth"),
        _candidate("NC - Sollus Pediatrics", "athena", kind="alias"),
        _candidate("Sollus Pediatric Dentistry", "other"),
    ])
    assert [(c.source_id, c.name) for _, c in ranked] == [
        ("athena", "NC - Sollus Pediatrics"),
        ("other", "Sollus Pediatric Dentistry"),  # "pediatrics" within one edit: a typo-tier match
    ]
    assert [key[0] for key, _ in ranked] == [2, 4]


def test_typo_budget_is_per_word_length() -> None:
    query = parse_query("cat")
    assert query is not None
    assert score(query, _candidate("Cot Clinic", "s")) is None  # no typos in 3-letter words
    long_query = parse_query("gastroentrology")
    assert long_query is not None
    assert score(long_query, _candidate("Gastroenterology Associates", "s")) is not None
