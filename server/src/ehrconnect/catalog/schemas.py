"""Wire model for catalog entries (`fhir_source`)."""

from __future__ import annotations

from typing import Literal

from ehrconnect.api.schemas import WireModel


class FhirSourceOut(WireModel):
    id: str
    resource_type: Literal["fhir_source"] = "fhir_source"
    name: str
    type: str | None
    fhir_base_url: str
    logo_url: str | None
    portal_url: str | None
    #: ehrconnect addition: which of the source's names matched `q` (e.g. a practice name).
    matched_name: str | None = None
