"""A source sending malformed data must not crash or derail a sync: bad reference ids are
ignored or reported per reference, and the full pass still ends with its deletion sweep."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ehrconnect.kit.time import utcnow
from ehrconnect.models import Connection, Record
from ehrconnect.worker import sync as sync_module
from ehrconnect.worker.plan import shared_references, valid_fhir_id
from ehrconnect.worker.scheduler import tick
from sqlalchemy import select, update
from worker_support import ALBERTO, make_platform, platform_settings

READABLE = frozenset({"Practitioner", "Organization"})


@pytest.mark.parametrize("rid", ["..", ".", "a/b", "a b", "x" * 65, "", "é", "a?b=c", "%2e%2e"])
def test_invalid_reference_ids_are_ignored(rid: str) -> None:
    resource = {"resourceType": "Encounter", "participant": [{"individual": {"reference": f"Practitioner/{rid}"}}]}
    assert shared_references(resource, READABLE) == set()
    assert not valid_fhir_id(rid)


def test_valid_reference_ids_are_kept() -> None:
    resource = {"resourceType": "Encounter", "serviceProvider": {"reference": "Organization/Org-1.a"},
                "participant": [{"individual": {"reference": "Practitioner/" + "x" * 64}}]}
    assert shared_references(resource, READABLE) == {("Organization", "Org-1.a"), ("Practitioner", "x" * 64)}


async def test_bad_reference_is_reported_and_the_deletion_sweep_still_runs(
    db_url: str, tmp_path: Path, sandbox_root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A reference with a path-traversal id reaches the references step (as from a checkpoint
    # written before ids were validated): it is reported, the other references are read, and
    # the full pass still marks resources gone at the source as deleted.
    def with_bad(resource: dict[str, Any], readable: frozenset[str]) -> set[tuple[str, str]]:
        return shared_references(resource, readable) | {("Practitioner", "..")}

    monkeypatch.setattr(sync_module, "shared_references", with_bad)
    platform = await make_platform(
        platform_settings(db_url, tmp_path, sandbox_root, sync_use_everything=False), sandbox_root
    )
    try:
        connected = await platform.connect(ALBERTO, patient_id="alberto")
        await platform.drain()
        async with platform.ctx.db.session() as session:
            ghost = (
                await session.execute(select(Record).where(Record.resource_type == "Observation").limit(1))
            ).scalar_one()
            ghost.resource_id = "gone-at-source"
            await session.execute(update(Connection).values(next_sync_at=utcnow(), sync_count=0))
        await tick(platform.ctx)
        await platform.drain()
        runs = (
            await platform.api.get(f"/patients/alberto/connections/{connected.connection_id}/sync-runs")
        ).json()["data"]
    finally:
        await platform.api.aclose()
        await platform.ctx.http.aclose()
        await platform.ctx.db.dispose()
    latest = runs[0]
    assert latest["mode"] == "full" and latest["status"] == "succeeded"
    assert {"resource_type": "Practitioner", "code": "invalid_reference"} in [
        {k: e[k] for k in ("resource_type", "code")} for e in latest["errors"]
    ]
    assert latest["deleted"] == {"Observation": 1}
    assert latest["counts"].get("Practitioner", 0) > 0 or latest["counts"].get("Organization", 0) > 0
