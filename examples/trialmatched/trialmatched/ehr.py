"""Everything TrialMatched asks ehrconnect, through the SDK's ``AsyncClient``.

The browser never talks to ehrconnect's API: it talks to this app's routes, which call these
functions with the server-held key. Errors propagate as SDK exceptions; the routes map them
(see :mod:`trialmatched.errors`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ehrconnect_client import AsyncClient, EhrconnectError, FhirSource, NotFoundError, PatientConnection, Session

from .errors import log_sdk_error
from .store import User

MIN_QUERY = 2  # the catalog convention: search only from two characters
MAX_QUERY = 100


@dataclass(frozen=True)
class Facility:
    """A catalog entry as the app shows it (and serves as JSON to its own search box)."""

    id: str
    name: str
    type: str | None

    @classmethod
    def of(cls, source: FhirSource) -> Facility:
        return cls(source.id, source.name, source.type)

    def as_json(self) -> dict[str, str | None]:
        return {"id": self.id, "name": self.name, "type": self.type}


@dataclass(frozen=True)
class ConnectedFacility:
    """One row of the home page's "Your connected facilities" list."""

    connection_id: str
    facility_id: str
    name: str
    status: str
    last_synced_at: datetime | None
    sync_status: str | None
    records: int | None

    @property
    def pulling(self) -> bool:
        """Active but no completed pull yet: records are still arriving."""
        return self.status == "active" and self.last_synced_at is None


@dataclass(frozen=True)
class Dashboard:
    """The patient's connections (newest first) and the number of records stored for them."""

    facilities: list[ConnectedFacility]
    records_total: int | None
    records_capped: bool


def normalize_query(q: str | None) -> str | None:
    """The search text to send, or ``None`` when too short to search."""
    text = " ".join((q or "").split())[:MAX_QUERY]
    return text if len(text) >= MIN_QUERY else None


async def search_facilities(client: AsyncClient, q: str | None, *, limit: int = 10) -> list[Facility]:
    """``GET /connections?q=``: catalog entries whose name matches."""
    text = normalize_query(q)
    if text is None:
        return []
    page = await client.connections.list(q=text, limit=limit)
    return [Facility.of(source) for source in page.data]


async def start_session(client: AsyncClient, user: User, return_url: str, *, facility_id: str | None) -> Session:
    """``POST /sessions``: picker mode without ``facility_id``, direct mode with one.

    Only the opaque ``patient_id`` is sent: TrialMatched shares no name or email it does not
    need to. The SDK adds an ``Idempotency-Key`` so a retried POST cannot create two sessions.
    """
    return await client.sessions.create(
        patient_id=user.patient_id,
        return_url=return_url,
        connection_id=facility_id,
        return_button_label="Back to TrialMatched",
        metadata={"app": "trialmatched"},
    )


async def read_session(client: AsyncClient, session_id: str) -> Session:
    """``GET /sessions/{id}``: the server-side truth after the patient comes back."""
    return await client.sessions.retrieve(session_id)


async def count_records(client: AsyncClient, patient_id: str, *, cap: int) -> tuple[int, dict[str, int], bool]:
    """Page through ``GET /patients/{id}/records`` (100 per page) and count, up to ``cap``.

    Returns ``(total, per_source, capped)``; ``per_source`` is keyed by the ``fhirsrc_`` id
    each record came from.
    """
    total, per_source = 0, dict[str, int]()
    async for record in client.patients.iter_records(patient_id, count=100):
        total += 1
        if record.source:
            per_source[record.source] = per_source.get(record.source, 0) + 1
        if total >= cap:
            return total, per_source, True
    return total, per_source, False


class FacilityNames:
    """Caches ``fhirsrc_`` id -> display name (catalog names rarely change)."""

    def __init__(self, max_entries: int = 2048) -> None:
        self._names: dict[str, str] = {}
        self._max = max_entries

    async def name(self, client: AsyncClient, facility_id: str) -> str:
        cached = self._names.get(facility_id)
        if cached is not None:
            return cached
        try:
            name = (await client.connections.retrieve(facility_id)).name
        except NotFoundError:
            return "Unknown facility"
        if len(self._names) >= self._max:
            self._names.clear()
        self._names[facility_id] = name
        return name


async def dashboard(client: AsyncClient, user: User, names: FacilityNames, *, cap: int) -> Dashboard:
    """The patient's facilities from ``GET /patients/{id}`` plus a records count.

    A patient who never started a session does not exist at ehrconnect yet (404): that is
    simply "nothing connected". Failed attempts are left out of the list; disconnected ones too.
    """
    try:
        patient = await client.patients.retrieve(user.patient_id)
    except NotFoundError:
        return Dashboard([], None, False)
    shown = [c for c in patient.connections if c.status in ("active", "refresh_failed", "expired")]
    total: int | None = None
    per_source: dict[str, int] = {}
    capped = False
    if any(c.status == "active" for c in shown):
        try:
            total, per_source, capped = await count_records(client, user.patient_id, cap=cap)
        except EhrconnectError as err:
            # The list is still worth showing without a count.
            log_sdk_error(err, action="count_records")
    facilities = [await _row(client, names, c, per_source) for c in _latest_per_facility(shown)]
    return Dashboard(facilities, total, capped)


def _latest_per_facility(connections: list[PatientConnection]) -> list[PatientConnection]:
    """Newest connection per facility (the API lists newest first), so reconnects show once."""
    seen: set[str] = set()
    latest = []
    for connection in connections:
        if connection.connection_id not in seen:
            seen.add(connection.connection_id)
            latest.append(connection)
    return latest


async def _row(
    client: AsyncClient, names: FacilityNames, connection: PatientConnection, per_source: dict[str, int]
) -> ConnectedFacility:
    return ConnectedFacility(
        connection_id=connection.id,
        facility_id=connection.connection_id,
        name=await names.name(client, connection.connection_id),
        status=connection.status,
        last_synced_at=connection.last_synced_at,
        sync_status=connection.sync_status,
        records=per_source.get(connection.connection_id) if per_source else None,
    )
