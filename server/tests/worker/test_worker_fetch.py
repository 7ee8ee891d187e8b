"""Page fetching rules: Retry-After, bounded in-place retries, next links only within the source."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from ehrconnect.smart import FhirSession, OriginViolation
from ehrconnect.worker import fetch
from ehrconnect.worker.plan import PATIENT_COMPARTMENT, shared_references

BASE = "https://ehr.test/fhir"


def session_for(handler: Any) -> FhirSession:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return FhirSession(http, BASE, "token-1")


async def test_retry_after_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(fetch, "_sleep", fake_sleep)
    answers = iter([httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(503),
                    httpx.Response(200, json={"resourceType": "Bundle", "entry": []})])
    fhir = session_for(lambda request: next(answers))
    doc = await fetch.get_with_retries(fhir, asyncio.Semaphore(1), f"{BASE}/Observation?patient=1")
    assert doc["resourceType"] == "Bundle"
    assert waits[0] == 7 and 0.25 <= waits[1] <= 0.5  # Retry-After, then backoff with jitter


async def test_long_retry_after_reschedules_instead_of_sleeping() -> None:
    fhir = session_for(lambda request: httpx.Response(429, headers={"Retry-After": "600"}))
    with pytest.raises(fetch.FetchInterrupted) as caught:
        await fetch.get_with_retries(fhir, asyncio.Semaphore(1), f"{BASE}/Observation")
    assert caught.value.retry_after == 600


async def test_persistent_5xx_gives_up_after_bounded_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    async def fake_sleep(seconds: float) -> None:
        return None

    monkeypatch.setattr(fetch, "_sleep", fake_sleep)

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(500)

    with pytest.raises(fetch.FetchInterrupted):
        await fetch.get_with_retries(session_for(handler), asyncio.Semaphore(1), f"{BASE}/Observation")
    assert len(calls) == fetch.MAX_PAGE_RETRIES + 1


def test_next_links_must_stay_inside_the_source() -> None:
    fhir = session_for(lambda request: httpx.Response(200))
    page = f"{BASE}/Observation?patient=1"
    inside = {"link": [{"relation": "next", "url": f"{BASE}/Observation?page=2"}]}
    relative = {"link": [{"relation": "next", "url": "Observation?page=3"}]}
    assert fetch.next_link(fhir, inside, page) == f"{BASE}/Observation?page=2"
    assert fetch.next_link(fhir, relative, page) == f"{BASE}/Observation?page=3"
    assert fetch.next_link(fhir, {"link": [{"relation": "self", "url": page}]}, page) is None
    for outside in ("https://evil.test/fhir/Observation?page=2", "https://ehr.test/other/Observation"):
        with pytest.raises(OriginViolation):
            fetch.next_link(fhir, {"link": [{"relation": "next", "url": outside}]}, page)


def test_bundle_resources_skip_outcomes_and_malformed_entries() -> None:
    bundle = {
        "resourceType": "Bundle",
        "entry": [
            {"resource": {"resourceType": "Observation", "id": "o1"}},
            {"resource": {"resourceType": "OperationOutcome", "id": "x"}},
            {"resource": {"resourceType": "Condition"}},
            {"fullUrl": "no-resource"},
        ],
    }
    assert fetch.bundle_resources(bundle) == [{"resourceType": "Observation", "id": "o1"}]


def test_shared_references_are_outside_the_compartment() -> None:
    encounter = {
        "resourceType": "Encounter", "id": "e1", "subject": {"reference": "Patient/p1"},
        "participant": [{"individual": {"reference": "Practitioner/dr1"}}],
        "serviceProvider": {"reference": "Organization/org1"},
        "partOf": {"reference": "Encounter/e0"},
        "location": [{"location": {"reference": "Location/l1"}}],
        "contained": [{"reference": "#local"}],
    }
    readable = frozenset({"Practitioner", "Organization", "Encounter", "Patient"})
    assert shared_references(encounter, readable) == {("Practitioner", "dr1"), ("Organization", "org1")}
    assert "Encounter" in PATIENT_COMPARTMENT
