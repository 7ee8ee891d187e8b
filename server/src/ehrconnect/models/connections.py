"""Connections (one authorization attempt at one source), OAuth launch state, client registrations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ehrconnect.kit.db import JSONDoc
from ehrconnect.kit.time import utcnow
from ehrconnect.models.base import Base, Timestamped

CONNECTION_STATUSES = ("active", "failed", "expired", "refresh_failed", "disconnected")


class Connection(Timestamped, Base):
    """A patient's link to one source. Failed attempts are rows too (shown with a null id
    inside sessions, as the contract asks)."""

    __tablename__ = "connections"
    __table_args__ = (
        Index("ix_connections_patient_id", "patient_pk", "id"),
        Index("ix_connections_session_id", "session_id", "id"),
        Index("ix_connections_status_next_sync", "status", "next_sync_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    environment: Mapped[str] = mapped_column(String(16))
    patient_pk: Mapped[str] = mapped_column(ForeignKey("patients.pk", ondelete="CASCADE"))
    session_id: Mapped[str | None] = mapped_column(ForeignKey("sessions.id", ondelete="SET NULL"))
    source_id: Mapped[str] = mapped_column(ForeignKey("fhir_sources.id"))
    #: Snapshot of the source's base URL at connect time: bearer tokens go only here.
    fhir_base_url: Mapped[str] = mapped_column(String(1000))
    status: Mapped[str] = mapped_column(String(20))
    scopes: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    failure_code: Mapped[str | None] = mapped_column(String(64))
    failure_at: Mapped[datetime | None]
    failure_detail: Mapped[str | None] = mapped_column(Text)
    fhir_patient_id: Mapped[str | None] = mapped_column(String(200))
    access_token_encrypted: Mapped[str | None] = mapped_column(Text)
    refresh_token_encrypted: Mapped[str | None] = mapped_column(Text)
    token_expires_at: Mapped[datetime | None]
    #: When the current access token was issued (refresh leeway is capped at half its lifetime).
    token_issued_at: Mapped[datetime | None]
    token_endpoint: Mapped[str | None] = mapped_column(String(1000))
    revocation_endpoint: Mapped[str | None] = mapped_column(String(1000))
    oauth_client_id: Mapped[str | None] = mapped_column(String(40))
    last_synced_at: Mapped[datetime | None]
    sync_status: Mapped[str | None] = mapped_column(String(20))
    next_sync_at: Mapped[datetime | None]
    full_sync_at: Mapped[datetime | None]
    sync_count: Mapped[int] = mapped_column(default=0)


class OAuthState(Base):
    """One SMART launch in flight: single-use `state`, PKCE verifier (encrypted), browser binding."""

    __tablename__ = "oauth_states"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    source_id: Mapped[str] = mapped_column(ForeignKey("fhir_sources.id"))
    #: SHA-256 of the browser-binding cookie value set when the launch started.
    browser_hash: Mapped[str] = mapped_column(String(64))
    code_verifier_encrypted: Mapped[str] = mapped_column(Text)
    redirect_uri: Mapped[str] = mapped_column(String(1000))
    requested_scopes: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    oauth_client_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class OAuthClientRegistration(Timestamped, Base):
    """Our client registration at a source, or at every source of one vendor type."""

    __tablename__ = "oauth_clients"
    __table_args__ = (
        UniqueConstraint("environment", "source_id"),
        UniqueConstraint("environment", "vendor_type"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    environment: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[str | None] = mapped_column(ForeignKey("fhir_sources.id", ondelete="CASCADE"))
    vendor_type: Mapped[str | None] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(500))
    client_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    #: client_secret_basic | client_secret_post | none
    auth_method: Mapped[str] = mapped_column(String(32), default="none")
    scopes: Mapped[list[str] | None] = mapped_column(JSONDoc)
    extra: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
