"""The API suite shares the contract suite's helpers (server/tests/contract/contract_kit.py)."""

from __future__ import annotations

import sys
from pathlib import Path

_CONTRACT = str(Path(__file__).resolve().parents[1] / "contract")
if _CONTRACT not in sys.path:
    sys.path.insert(0, _CONTRACT)
