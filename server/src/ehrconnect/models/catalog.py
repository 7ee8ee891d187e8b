"""The FHIR source catalog: one row per FHIR base URL per environment, shared by all orgs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ehrconnect.kit.db import JSONDoc
from ehrconnect.models.base import Base, Timestamped


class FhirSource(Timestamped, Base):
    __tablename__ = "fhir_sources"
    __table_args__ = (
        UniqueConstraint("environment", "normalized_base_url"),
        Index("ix_fhir_sources_env_id", "environment", "id"),
        Index("ix_fhir_sources_env_type", "environment", "type"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    environment: Mapped[str] = mapped_column(String(16))
    #: Lower-cased scheme/host, no trailing slash: the identity that keeps `id` stable.
    normalized_base_url: Mapped[str] = mapped_column(String(1000))
    fhir_base_url: Mapped[str] = mapped_column(String(1000))
    name: Mapped[str] = mapped_column(String(500))
    type: Mapped[str | None] = mapped_column(String(64))
    logo_url: Mapped[str | None] = mapped_column(String(1000))
    portal_url: Mapped[str | None] = mapped_column(String(1000))
    brand: Mapped[str | None] = mapped_column(String(500))
    #: Every organization name seen for this endpoint (searchable).
    aliases: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    #: Structured locations [{city, state, postal_code}] and NPIs seen for this endpoint.
    locations: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc, default=list)
    npis: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    fhir_version: Mapped[str | None] = mapped_column(String(16))
    #: Denormalized text the search index is built from.
    search_text: Mapped[str] = mapped_column(Text, default="")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Explicit OAuth client registration; default: the one for this source's vendor type.
    oauth_client_id: Mapped[str | None] = mapped_column(String(40))
    #: Where the entry came from (importer name, file) for audits.
    provenance: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
