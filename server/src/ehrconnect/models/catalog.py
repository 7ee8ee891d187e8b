"""The FHIR source catalog: one row per FHIR base URL per environment, shared by all orgs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
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


class FhirSourceName(Base):
    """One searchable name of a source: its display name, a brand, or an organization it serves.

    A FHIR base URL shared by thousands of practices (athenahealth's) is one `FhirSource` with
    one row here per practice, so search can match the practice and return the source it
    connects through. The full-text indexes over this table live in migration 0002 (FTS5 on
    SQLite, tsvector + pg_trgm on PostgreSQL); the `*_text` columns are what they index.
    """

    __tablename__ = "fhir_source_names"
    __table_args__ = (
        UniqueConstraint("source_id", "dedupe_key"),
        Index("ix_fhir_source_names_env_norm", "environment", "name_norm"),
        Index("ix_fhir_source_names_npi", "npi"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source_id: Mapped[str] = mapped_column(ForeignKey("fhir_sources.id", ondelete="CASCADE"), index=True)
    environment: Mapped[str] = mapped_column(String(16))
    #: The name as published (shown as `matched_name`).
    name: Mapped[str] = mapped_column(String(500))
    #: Folded form (ASCII, lower case, punctuation to spaces, "ST - " prefix moved to `state`).
    name_norm: Mapped[str] = mapped_column(String(500))
    #: primary (the source's display name) | alias | brand | portal
    kind: Mapped[str] = mapped_column(String(16))
    npi: Mapped[str | None] = mapped_column(String(10))
    city: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str | None] = mapped_column(String(2))
    postal_code: Mapped[str | None] = mapped_column(String(10))
    #: Folded "city state zip" and vendor words, as indexed.
    place_text: Mapped[str] = mapped_column(String(300), default="")
    vendor_text: Mapped[str] = mapped_column(String(300), default="")
    #: name_norm|npi|zip: one row per distinct (name, NPI, ZIP) of a source.
    dedupe_key: Mapped[str] = mapped_column(String(600))
    #: Which import first contributed this name (file label), for audits.
    origin: Mapped[str | None] = mapped_column(String(200))
