"""Stored FHIR resources (latest version per connection/type/id) and sync run reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Sequence, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ehrconnect.kit.db import JSONDoc
from ehrconnect.kit.time import utcnow
from ehrconnect.models.base import Base, Timestamped


class Record(Timestamped, Base):
    __tablename__ = "records"
    __table_args__ = (
        UniqueConstraint("connection_id", "resource_type", "resource_id"),
        # Records are listed per patient in `seq` order (keyset cursors over an immutable key).
        Index("ix_records_patient_seq", "patient_pk", "seq", unique=True),
        Index("ix_records_patient_type_seq", "patient_pk", "resource_type", "seq"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    #: Insertion order, assigned once when the row is first stored and never changed; the records
    #: API pages by it. PostgreSQL: from the `records_seq` sequence; SQLite: max + 1 under the
    #: single-writer lock (see ehrconnect.records.repository).
    seq: Mapped[int] = mapped_column(BigInteger, Sequence("records_seq"))
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
    #: The job executing this run (a run is resumed by whichever worker holds that job's lease).
    job_id: Mapped[str | None] = mapped_column(String(40))
    #: Checkpoint written with every stored page: current step and next page URL (crash resume).
    progress: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
