"""Connect Sessions: one hosted-flow visit by one patient."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ehrconnect.kit.db import JSONDoc
from ehrconnect.models.base import Base, Timestamped


class ConnectSession(Timestamped, Base):
    __tablename__ = "sessions"
    __table_args__ = (
        Index("ix_sessions_tenant_id", "organization_id", "environment", "id"),
        Index("ix_sessions_patient_id", "patient_pk", "id"),
        Index("ix_sessions_status_expires", "status", "expires_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    environment: Mapped[str] = mapped_column(String(16))
    patient_pk: Mapped[str] = mapped_column(ForeignKey("patients.pk", ondelete="CASCADE"))
    mode: Mapped[str] = mapped_column(String(16))  # picker | direct
    #: Direct Mode target (``fhirsrc_``); null in Picker Mode.
    source_id: Mapped[str | None] = mapped_column(ForeignKey("fhir_sources.id"))
    recommended_source_ids: Mapped[list[str] | None] = mapped_column(JSONDoc)
    return_url: Mapped[str] = mapped_column(Text)
    return_button_label: Mapped[str | None] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(16), default="open")
    expires_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONDoc, default=dict)
    #: SHA-256 of the URL token (lookup) and the token encrypted (to show `url` again).
    url_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    url_token_encrypted: Mapped[str] = mapped_column(Text)
