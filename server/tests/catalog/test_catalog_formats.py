"""Directory readers on the real files of ../shared/data/catalog, including their quirks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from catalog_support import BRANDS, LANTERN, ORACLE, require_catalog_data
from ehrconnect.catalog.formats import UnknownFormat, detect_format, read_bundle, read_lantern
from ehrconnect.catalog.importer import ImportSummary, load_files, read_catalog

pytestmark = pytest.mark.usefixtures("_data")


@pytest.fixture
def _data() -> None:
    require_catalog_data()


def _load(path: Path) -> Any:
    return json.loads(path.read_text())


def test_detects_each_format() -> None:
    assert detect_format(_load(LANTERN / "Greenway_Health_LLC_EndpointSources.json")) == "lantern"
    assert detect_format(_load(LANTERN / "CHPLEndpointResourcesList.json")) == "lantern_manifest"
    assert detect_format(_load(ORACLE / "soarian_patient_r4_endpoints.json")) == "endpoint_bundle"
    for example in ("Bundle-example1.json", "Bundle-example4.json"):
        assert detect_format(_load(BRANDS / example)) == "brands"
    with pytest.raises(UnknownFormat):
        detect_format({"resourceType": "Patient"})


def test_lantern_empty_npi_and_zip_become_none() -> None:
    records = list(read_lantern(_load(LANTERN / "Cerner_Corporation_EndpointSources.json"), "x", "Cerner"))
    assert len(records) == 3305
    first = records[0].names[0]
    assert (first.name, first.npi, first.postal_code) == ("Oscar Matthews, MD", None, "92663")
    assert all(n.npi is None or len(n.npi) == 10 for r in records for n in r.names)
    assert {r.vendor_type for r in records} == {"cerner"}


def test_lantern_record_without_zip_key() -> None:
    # One record in the whole data set has no OrganizationZipCode key at all.
    files = sorted(LANTERN.glob("*EndpointSources.json"))
    missing = [
        (f.name, e) for f in files for e in _load(f)["Endpoints"] if "OrganizationZipCode" not in e
    ]
    assert len(missing) == 1
    name, entry = missing[0]
    record = next(r for r in read_lantern({"Endpoints": [entry]}, name, "x") if r)
    assert all(n.postal_code is None for n in record.names)


def test_athena_state_prefix_is_kept_as_published_and_parsed() -> None:
    records = list(read_lantern(_load(LANTERN / "athenahealth_Inc_EndpointSources.json"), "x", "athenahealth, Inc."))
    assert len(records) == 17136
    sollus = next(n for r in records for n in r.names if "Sollus" in n.name)
    assert (sollus.name, sollus.state) == ("NC - Sollus Pediatrics", "NC")


def test_oracle_bundle_pairs_endpoint_and_organization() -> None:
    records = list(read_bundle(_load(ORACLE / "millennium_patient_r4_endpoints.json"), "x", brands=False))
    assert len(records) == 1359
    vishen = next(r for r in records if any(n.name == "Vishen, R K MD" for n in r.names))
    name = vishen.names[0]
    assert (name.npi, name.city, name.state, name.postal_code) == ("1912011511", "Orange Park", "FL", "32073")
    assert vishen.url == "https://fhir-myrecord.cerner.com/r4/-MIuTZfWACgngV9YTgKmhcl1PVL8iu53/"


def test_brands_part_of_children_share_the_parents_endpoints() -> None:
    records = {r.url: r for r in read_bundle(_load(BRANDS / "Bundle-example2.json"), "x", brands=True)}
    r4 = records["https://ehr.example.com/ProdFHIR/api/FHIR/R4"]
    names = {n.name for n in r4.names}
    assert {"ExampleHealth", "GoodHealth Hospital", "ExampleHealth Community Hospital",
            "ExampleHealth Physicians of Madison", "My ExampleHealth Portal"} <= names
    assert r4.brand == "ExampleHealth"
    assert r4.logo_url == "https://example.org/examplehealth/logo/main.1024x1024.png"
    assert r4.portal_url == "https://example.org/examplehealth/patient-portal-url"
    assert records["https://ehr.example.com/ProdFHIR/api/FHIR/R2"].fhir_version == "1.0.2"


def test_brands_coequal_brands_share_one_endpoint() -> None:
    records = list(read_bundle(_load(BRANDS / "Bundle-example4.json"), "x", brands=True))
    assert len(records) == 1
    assert {"Brand1", "Brand2", "Umbrella Insurance", "Shield Insurance"} <= {n.name for n in records[0].names}


def test_brands_elided_examples_are_not_names() -> None:
    (record,) = read_bundle(_load(BRANDS / "Bundle-example1.json"), "x", brands=True)
    assert all("more here" not in (n.name + str(n.state)) for n in record.names)
    assert {n.city for n in record.names if n.city} == {"Anchorage", "Madison"}


def test_duplicate_and_manifest_files() -> None:
    summary = ImportSummary(environment="live")
    files, manifest = load_files([LANTERN], summary)
    assert summary.files_skipped["lantern/Carepaths_Inc_EndpointSources.json"] == (
        "duplicate of lantern/Carepaths_EHR_EndpointSources.json"
    )
    assert sum("duplicate" in reason for reason in summary.files_skipped.values()) == 9
    assert manifest["Epic_Systems_Corporation_1_EndpointSources.json"] == "Epic Systems Corporation"
    assert summary.formats["lantern_manifest"] == 3
    assert len(files) == 147


def test_epic_mixed_dstu2_and_r4_list() -> None:
    merged, summary = read_catalog([LANTERN / "Epic_Systems_Corporation_EndpointSources.json"], "live")
    assert summary.records == 957
    assert summary.skipped["not_r4"] >= 480
    assert all("dstu2" not in key for key in merged)
    assert all(source.vendor_type == "epic" for source in merged.values())
    assert len(merged) + summary.merged + sum(summary.skipped.values()) == summary.records


def test_shared_base_url_is_one_source_with_every_practice_name() -> None:
    merged, summary = read_catalog(
        [LANTERN / "athenahealth_Inc_EndpointSources.json", LANTERN / "AthenaClinicals_EndpointSources.json"], "live"
    )
    athena = merged["https://api.platform.athenahealth.com/fhir/r4"]
    assert athena.shared and athena.final_display_name() == "athenahealth"
    assert len({row.name_norm for row in athena.names.values()}) > 17000
    assert summary.merged == summary.records - len(merged) - sum(summary.skipped.values())


def test_provider_facing_oracle_endpoints_are_skipped() -> None:
    merged, summary = read_catalog([ORACLE / "millennium_provider_r4_endpoints.json"], "live")
    assert not merged
    assert summary.skipped == {"provider_facing": 1451}
