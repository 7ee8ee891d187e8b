"""Write (or check) the committed OpenAPI snapshot `openapi/<version>.json`.

    python scripts/openapi_snapshot.py          # regenerate after changing the API
    python scripts/openapi_snapshot.py --check  # exit 1 when the snapshot is stale (CI)

The document is generated from the code (`create_app().openapi()`), exactly as `/openapi.json`
serves it, and written with sorted keys so diffs stay reviewable.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server" / "src"))

from ehrconnect.versions import LATEST_VERSION  # noqa: E402

SNAPSHOT = ROOT / "openapi" / f"{LATEST_VERSION}.json"


def generate() -> dict[str, Any]:
    """The OpenAPI document of a default-configured app (no database access needed)."""
    from ehrconnect.app import create_app
    from ehrconnect.config import Settings

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            environment="development", data_dir=Path(tmp), public_url="http://127.0.0.1:8000",
            sandbox_ehr_enabled=True, embedded_worker=False,
        )
        return create_app(settings).openapi()


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if the committed snapshot is stale")
    args = parser.parse_args(argv)
    fresh = render(generate())
    if args.check:
        current = SNAPSHOT.read_text() if SNAPSHOT.exists() else ""
        if current != fresh:
            print(f"{SNAPSHOT.relative_to(ROOT)} is stale: run `python scripts/openapi_snapshot.py`", file=sys.stderr)
            return 1
        print(f"{SNAPSHOT.relative_to(ROOT)} is up to date")
        return 0
    SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
    SNAPSHOT.write_text(fresh)
    print(f"wrote {SNAPSHOT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
