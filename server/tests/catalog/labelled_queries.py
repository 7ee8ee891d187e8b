"""A labelled query set written from the data in ../shared/data/catalog.

Each query names what a patient would type and the source they mean: by normalized base
URL (stable across imports and backends; ids are minted per database), or, for vendor
queries, by vendor type. The expected source must be in the top 3.
"""

from __future__ import annotations

from dataclasses import dataclass

ATHENA = "https://api.platform.athenahealth.com/fhir/r4"


@dataclass(frozen=True)
class Labelled:
    query: str
    kind: str
    url: str | None = None
    type: str | None = None
    #: The name the result must report as matched (athenahealth practices behind one URL).
    matched: str | None = None


QUERIES: list[Labelled] = [
    # Hospital and practice names, as published.
    Labelled("Mayo Clinic", "name", url="https://mcc.api.mayo.edu/epic-fhir/api/fhir/r4"),
    Labelled("Atlantic Health", "name", url="https://soapproxy.atlantichealth.org/fhirprd/api/fhir/r4"),
    Labelled("QuadMed", "name", url="https://epicicfore.quadmedical.com/fhirprd/api/fhir/r4"),
    Labelled("Minden Medical Center", "name",
             url="https://fhir.yourcareuniverse.net/tenant/51c6b6d1-0692-4788-ba2b-65a21c495bcb"),
    Labelled("Missouri Delta Medical Center", "name",
             url="https://fhir-myrecord.cerner.com/r4/80babf0e-2f7d-4b87-9cc1-ea74c9b22a40"),
    Labelled("Renal Clinic of Houston", "name", url="https://fhir.healow.com/fhirserver/fhir/ihidba"),
    Labelled("Long Beach Gastroenterology Associates", "name",
             url="https://fhir-api.fhirprod.aws.greenwayhealth.com/fhir/r4/2.16.840.1.113883.3.140.70102"),
    Labelled("San Carlos Apache Healthcare", "name",
             url="https://cls1ascmshvp.cls.hos.allscriptscloud.com/fhir"),
    Labelled("Western Arizona Regional Medical Center", "name",
             url="https://fhir.yourcareuniverse.net/tenant/1e652adb-d6d8-4094-bdfc-81d32d2a7070"),
    Labelled("Heroes Healthcare Primary Care", "name",
             url="https://api.patientfusion.com/fhir/r4/v1/8fc20600-963e-45f6-8eec-3eb0dd107c4c"),
    Labelled("East Coast Orthopaedics", "name",
             url="https://exscribe-prod-fhir.ema-api.com/fhir/modmed/eco/r4"),
    Labelled("Oscar Matthews", "name",
             url="https://fhir-myrecord.cerner.com/r4/-kzioyv6gk-ilchowbsh2m9kssddgi12"),
    # Prefixes (type-ahead).
    Labelled("Mille Lacs", "prefix",
             url="https://fhir.yourcareuniverse.net/tenant/9372d935-a8ce-495b-bbed-e139e5c922cf"),
    Labelled("Escambia County Health", "prefix",
             url="https://fhir-myrecord.cerner.com/r4/a7b7f339-eea5-408f-8f14-ad4341b10c45"),
    Labelled("Nebraska Orthopaedic Hosp", "prefix",
             url="https://fhir-myrecord.cerner.com/r4/efffdd49-80a8-4c46-87e6-e53d54707ef3"),
    # Misspellings (one typo).
    Labelled("Mayo Clinc", "typo", url="https://mcc.api.mayo.edu/epic-fhir/api/fhir/r4"),
    Labelled("Atlantc Health", "typo", url="https://soapproxy.atlantichealth.org/fhirprd/api/fhir/r4"),
    Labelled("Minden Medcal Center", "typo",
             url="https://fhir.yourcareuniverse.net/tenant/51c6b6d1-0692-4788-ba2b-65a21c495bcb"),
    Labelled("Nebraska Orthopedic Hospital", "typo",
             url="https://fhir-myrecord.cerner.com/r4/efffdd49-80a8-4c46-87e6-e53d54707ef3"),
    Labelled("Renal Clinic of Huston", "typo", url="https://fhir.healow.com/fhirserver/fhir/ihidba"),
    Labelled("Westren Arizona Regional", "typo",
             url="https://fhir.yourcareuniverse.net/tenant/1e652adb-d6d8-4094-bdfc-81d32d2a7070"),
    Labelled("Sollus Pediatrcs", "typo", url=ATHENA, matched="NC - Sollus Pediatrics"),
    # Word order.
    Labelled("Health Atlantic", "order", url="https://soapproxy.atlantichealth.org/fhirprd/api/fhir/r4"),
    Labelled("Medical Center Minden", "order",
             url="https://fhir.yourcareuniverse.net/tenant/51c6b6d1-0692-4788-ba2b-65a21c495bcb"),
    Labelled("Matthews Oscar", "order",
             url="https://fhir-myrecord.cerner.com/r4/-kzioyv6gk-ilchowbsh2m9kssddgi12"),
    # Cities, states, ZIP codes.
    Labelled("Brewton", "place", url="https://fhir-myrecord.cerner.com/r4/a7b7f339-eea5-408f-8f14-ad4341b10c45"),
    Labelled("Sikeston", "place", url="https://fhir-myrecord.cerner.com/r4/80babf0e-2f7d-4b87-9cc1-ea74c9b22a40"),
    Labelled("Little Silver", "place",
             url="https://fhir-myrecord.cerner.com/r4/sqih60cnko9o0pbyeo9xaxx0dzx5s5b2"),
    Labelled("Delta Medical Sikeston MO", "place",
             url="https://fhir-myrecord.cerner.com/r4/80babf0e-2f7d-4b87-9cc1-ea74c9b22a40"),
    Labelled("Sikeston Missouri", "place",
             url="https://fhir-myrecord.cerner.com/r4/80babf0e-2f7d-4b87-9cc1-ea74c9b22a40"),
    Labelled("Sollus North Carolina", "place", url=ATHENA, matched="NC - Sollus Pediatrics"),
    Labelled("63801", "place", url="https://fhir-myrecord.cerner.com/r4/80babf0e-2f7d-4b87-9cc1-ea74c9b22a40"),
    # NPIs.
    Labelled("1053382655", "npi",
             url="https://fhir.yourcareuniverse.net/tenant/44b22363-bfae-41e3-b442-7ab703616389"),
    Labelled("1235440140", "npi", url="https://fhir-myrecord.cerner.com/r4/sqih60cnko9o0pbyeo9xaxx0dzx5s5b2"),
    Labelled("1881690691", "npi",
             url="https://fhir.yourcareuniverse.net/tenant/ed22d790-84fa-4384-96b8-4d7eb85e8469"),
    # athenahealth practices: one shared base URL, the practice is the matched name.
    Labelled("Sollus Pediatrics", "shared", url=ATHENA, matched="NC - Sollus Pediatrics"),
    Labelled("Michael Hanks Pediatrics", "shared", url=ATHENA, matched="MO - Michael Hanks Pediatrics"),
    Labelled("Shete Ear Nose Throat", "shared", url=ATHENA, matched="TN - Shete Ear Nose Throat Clinic"),
    Labelled("Trophy Club Pediatrics", "shared", url=ATHENA, matched="TX - Trophy Club Pediatrics, PA"),
    Labelled("Northlake OB/GYN", "shared", url=ATHENA, matched="GA - Northlake OB/GYN"),
    # Vendors.
    Labelled("athenahealth", "vendor", url=ATHENA),
    Labelled("meditech", "vendor", type="meditech"),
    Labelled("greenway", "vendor", type="greenway"),
    Labelled("eclinicalworks", "vendor", type="eclinicalworks"),
    Labelled("nextgen", "vendor", type="nextgen"),
    # User-access Brands (SMART App Launch examples): brand, alias and portal names.
    Labelled("GoodHealth Hospital", "brand", url="https://ehr.example.com/prodfhir/api/fhir/r4"),
    Labelled("Shield Insurance", "brand", url="https://example.org/brand1.org/prodfhir/api/fhir/r4",
             matched="Shield Insurance"),
    Labelled("Example Labs", "brand", url="https://fhir.labs.example.com/r4"),
]
