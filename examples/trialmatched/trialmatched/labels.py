"""The words the pages show for connection states and record counts (shared by the HTML pages
and the JSON endpoint the home page polls, so both always say the same thing)."""

from __future__ import annotations

from .ehr import ConnectedFacility, Dashboard

PULLING = "Connected — pulling records"


def status_label(facility: ConnectedFacility) -> str:
    """One line per facility: connected, still pulling, or needing the patient again."""
    if facility.status == "active":
        if facility.pulling:
            return PULLING
        if facility.sync_status == "failed":
            return "Connected — the last update failed; we will retry"
        return "Connected"
    if facility.status in ("refresh_failed", "expired"):
        return "Access lapsed — connect again to keep your records current"
    return facility.status.replace("_", " ").capitalize()


def records_label(count: int | None, *, capped: bool = False) -> str:
    """``"1 record"``, ``"42 records"``, ``"5000+ records"``; empty when unknown."""
    if count is None:
        return ""
    if capped:
        return f"{count}+ records"
    return "1 record" if count == 1 else f"{count} records"


def dashboard_json(board: Dashboard) -> dict[str, object]:
    """What ``GET /api/dashboard`` returns to the home page's script."""
    return {
        "records": records_label(board.records_total, capped=board.records_capped),
        "pulling": any(f.pulling for f in board.facilities),
        "facilities": [
            {
                "connection_id": f.connection_id,
                "name": f.name,
                "status": status_label(f),
                "records": records_label(f.records),
            }
            for f in board.facilities
        ],
    }
