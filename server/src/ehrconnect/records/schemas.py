"""Wire models for stored records and sync-run reports."""

from __future__ import annotations

from typing import Any, Literal

from ehrconnect.api.schemas import WireModel


class RecordItem(WireModel):
    """One stored FHIR resource and the catalog source it came from."""

    source: str | None
    resource: dict[str, Any]


class RecordList(WireModel):
    resource_type: Literal["list"] = "list"
    patient_id: str
    data: list[RecordItem]
    has_more: bool
    next_cursor: str | None
    previous_cursor: str | None


class SyncRunOut(WireModel):
    """The report of one background pull of one connection."""

    id: str
    resource_type: Literal["sync_run"] = "sync_run"
    connection_id: str
    status: Literal["running", "succeeded", "failed"]
    mode: Literal["full", "incremental"]
    started_at: str
    finished_at: str | None
    duration_ms: int | None
    #: Resources fetched per FHIR type in this run.
    counts: dict[str, int]
    #: Problems that did not stop the run (one type forbidden, ...) or the one that did.
    errors: list[dict[str, Any]]
    #: Stored resources this (full) run found deleted at the source, per type.
    deleted: dict[str, int]


class SyncRequested(WireModel):
    """Answer to a manual sync request."""

    id: str
    resource_type: Literal["connection"] = "connection"
    sync_requested: Literal[True] = True
