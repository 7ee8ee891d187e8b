"""Catalog administration: hide/disable sources, and keep one source's searchable names in sync."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ehrconnect.catalog.formats import NameEntry
from ehrconnect.catalog.importer import make_name_row
from ehrconnect.catalog.repository import get_source
from ehrconnect.catalog.text import fold
from ehrconnect.catalog.vendors import vendor_words
from ehrconnect.models import FhirSource, FhirSourceName, OAuthClientRegistration

#: flag name -> (column, value): `disable` keeps a source out of search and new connections;
#: `hide` only keeps it out of search (existing links by id keep working).
FLAG_ACTIONS: dict[str, tuple[str, bool]] = {
    "disable": ("disabled", True),
    "enable": ("disabled", False),
    "hide": ("hidden", True),
    "unhide": ("hidden", False),
}


async def set_flag(session: AsyncSession, environment: str, id_or_url: str, action: str) -> FhirSource | None:
    """Apply `disable|enable|hide|unhide` to a source (by id or base URL); None if not found."""
    column, value = FLAG_ACTIONS[action]
    source = await get_source(session, environment, id_or_url)
    if source is None:
        return None
    setattr(source, column, value)
    await session.flush()
    return source


class UnknownRegistration(LookupError):
    """No OAuth client registration with that id in the source's environment."""


async def set_oauth_client(
    session: AsyncSession, environment: str, id_or_url: str, registration_id: str | None
) -> FhirSource | None:
    """Pin a source to an OAuth client registration (`oacl_…`), or back to its vendor's (None).

    Without a pinned registration, the one for the source's vendor `type` applies
    (connections.registrations). Imports never change this setting.
    """
    source = await get_source(session, environment, id_or_url)
    if source is None:
        return None
    if registration_id is not None:
        registration = await session.get(OAuthClientRegistration, registration_id)
        if registration is None or registration.environment != environment:
            raise UnknownRegistration(registration_id)
    source.oauth_client_id = registration_id
    await session.flush()
    return source


async def sync_source_names(
    session: AsyncSession, source: FhirSource, names: Sequence[str], origin: str
) -> None:
    """Make `source.name` (primary) and `names` (aliases) searchable; other names are kept.

    For sources maintained one at a time (the sandbox seed); bulk imports use `writer`.
    """
    existing = {
        row.dedupe_key: row
        for row in (
            await session.execute(select(FhirSourceName).where(FhirSourceName.source_id == source.id))
        ).scalars()
    }
    display_norm = fold(source.name)
    for position, name in enumerate([source.name, *names]):
        row = make_name_row(NameEntry(name=name), origin)
        if row is None or row.dedupe_key in existing:
            continue
        existing[row.dedupe_key] = FhirSourceName(
            source_id=source.id, environment=source.environment, name=row.name, name_norm=row.name_norm,
            kind="primary" if position == 0 else "alias", npi=None, city=None, state=None, postal_code=None,
            place_text="", vendor_text="", dedupe_key=row.dedupe_key, origin=row.origin,
        )
        session.add(existing[row.dedupe_key])
    primary = next(iter(sorted(k for k, r in existing.items() if r.name_norm == display_norm)), None)
    for key, name_row in existing.items():
        kind = "primary" if key == primary else ("alias" if name_row.kind == "primary" else name_row.kind)
        text = vendor_words(source.type) if kind == "primary" else ""
        if (name_row.kind, name_row.vendor_text) != (kind, text):
            name_row.kind, name_row.vendor_text = kind, text
    await session.flush()
