"""Organizations and their API keys. A key belongs to one (organization, environment)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ehrconnect.kit.time import utcnow
from ehrconnect.models.base import Base

ENVIRONMENTS = ("live", "sandbox")


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    environment: Mapped[str] = mapped_column(String(16))
    #: SHA-256 of the full key; the key itself is never stored.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: The first characters, shown in listings so a human can tell keys apart.
    display_prefix: Mapped[str] = mapped_column(String(32))
    api_version: Mapped[str] = mapped_column(String(16))
    label: Mapped[str | None] = mapped_column(String(200))
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
