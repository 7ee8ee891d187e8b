"""The integrating app's patients, keyed by the app's own ``patient_id``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ehrconnect.kit.db import JSONDoc
from ehrconnect.models.base import Base, Timestamped


class Patient(Timestamped, Base):
    __tablename__ = "patients"
    __table_args__ = (
        UniqueConstraint("organization_id", "environment", "patient_id"),
        Index("ix_patients_tenant_pk", "organization_id", "environment", "pk"),
        Index("ix_patients_tenant_email", "organization_id", "environment", "email"),
    )

    #: Internal time-ordered key (``pat_…``): keyset pagination and foreign keys use it.
    pk: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    environment: Mapped[str] = mapped_column(String(16))
    patient_id: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONDoc, default=dict)
