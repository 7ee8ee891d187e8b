"""docs/configuration.md stays true to the code: every setting is documented, none invented."""

from __future__ import annotations

import re
from pathlib import Path

from ehrconnect.config import Settings

DOC = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"


def test_every_setting_is_documented_and_nothing_else() -> None:
    documented = set(re.findall(r"`EHRCONNECT_([A-Z_]+)`", DOC.read_text()))
    documented = {name for name in documented if not name.startswith("SANDBOX_") or name in {
        "SANDBOX_EHR_ENABLED", "SANDBOX_EHR_URL", "SANDBOX_CLIENT_ID"}}
    fields = {name.upper() for name in Settings.model_fields}
    assert fields - documented == set(), "settings missing from docs/configuration.md"
    assert documented - fields == set(), "docs/configuration.md names settings that do not exist"
