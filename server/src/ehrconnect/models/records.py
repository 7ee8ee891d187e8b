"""Stored FHIR resources (latest version per connection/type/id) and sync run reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ehrconnect.kit.db import JSONDoc
from ehrconnect.kit.time import utcnow
from ehrconnect.models.base import Base, Timestamped


class Record(Timestamped, Base):
    __tablename__ = "records"
    __table_args__ = (
        UniqueConstraint("connection_id", "resource_type", "resource_id"),
        Index("ix_records_patient_id", "patient_pk", "id"),
        Index("ix_records_patient_type_id", "patient_pk", "resource_type", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    environment: Mapped[str] = mapped_column(String(16))
    patient_pk: Mapped[str] = mapped_column(ForeignKey("patients.pk", ondelete="CASCADE"))
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    source_id: Mapped[str | None] = mapped_column(String(40))
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(200))
    resource: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    content_hash: Mapped[str] = mapped_column(String(64))
    source_last_updated: Mapped[datetime | None]
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Set when a full pass no longer finds the resource at the source.
    deleted_at: Mapped[datetime | None]


class SyncRun(Base):
    __tablename__ = "sync_runs"
    __table_args__ = (Index("ix_sync_runs_connection_id", "connection_id", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    environment: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(16))  # full | incremental
    status: Mapped[str] = mapped_column(String(16))  # running | succeeded | failed
    counts: Mapped[dict[str, int]] = mapped_column(JSONDoc, default=dict)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc, default=list)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    duration_ms: Mapped[int | None]
