"""Minting, listing and revoking API keys. Keys are shown once and stored as SHA-256 hashes."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ehrconnect.kit.crypto import sha256_hex
from ehrconnect.kit.ids import new_id
from ehrconnect.kit.time import utcnow
from ehrconnect.models import ApiKey, Organization
from ehrconnect.versions import LATEST_VERSION

KEY_PREFIX = {"live": "mb_sk_live_", "sandbox": "mb_sk_sbx_"}


@dataclass(frozen=True)
class NewKey:
    """A freshly minted key: `secret` exists only in this object, never in storage."""

    id: str
    secret: str
    organization: str
    environment: str
    api_version: str
    expires_at: datetime | None


async def get_or_create_organization(session: AsyncSession, name: str) -> Organization:
    org = (await session.execute(select(Organization).where(Organization.name == name))).scalar_one_or_none()
    if org is None:
        org = Organization(id=new_id("organization"), name=name)
        session.add(org)
        await session.flush()
    return org


async def create_key(
    session: AsyncSession,
    *,
    organization: str,
    environment: str,
    api_version: str = LATEST_VERSION,
    expires_at: datetime | None = None,
    label: str | None = None,
) -> NewKey:
    if environment not in KEY_PREFIX:
        raise ValueError(f"environment must be one of {sorted(KEY_PREFIX)}")
    org = await get_or_create_organization(session, organization)
    secret = KEY_PREFIX[environment] + secrets.token_urlsafe(32)
    key = ApiKey(
        id=new_id("api_key"),
        organization_id=org.id,
        environment=environment,
        key_hash=sha256_hex(secret),
        display_prefix=secret[: len(KEY_PREFIX[environment]) + 4],
        api_version=api_version,
        label=label,
        expires_at=expires_at,
    )
    session.add(key)
    await session.flush()
    return NewKey(key.id, secret, org.name, environment, api_version, expires_at)


async def list_keys(session: AsyncSession, organization: str | None = None) -> list[tuple[ApiKey, str]]:
    query = select(ApiKey, Organization.name).join(Organization).order_by(ApiKey.id)
    if organization:
        query = query.where(Organization.name == organization)
    return [(key, org_name) for key, org_name in (await session.execute(query)).all()]


async def revoke_key(session: AsyncSession, key_id: str) -> bool:
    key = await session.get(ApiKey, key_id)
    if key is None:
        return False
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return True


def key_state(key: ApiKey) -> str:
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= utcnow():
        return "expired"
    return "active"
