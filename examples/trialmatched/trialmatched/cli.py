"""``trialmatched --port 8001`` (or ``python -m trialmatched``): serve the example app with uvicorn."""

from __future__ import annotations

import argparse
import logging
import sys

import uvicorn

from .app import create_app
from .settings import AppSettings


def main(argv: list[str] | None = None) -> int:
    """Parse ``--host``/``--port``, read the environment, serve until interrupted."""
    parser = argparse.ArgumentParser(prog="trialmatched", description="Run the TrialMatched example app.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = AppSettings.from_env(port=args.port)
    except ValueError as err:
        print(f"trialmatched: {err}", file=sys.stderr)
        return 2
    print(f"TrialMatched is running at {settings.public_base}/ (ehrconnect at {settings.api_url})", flush=True)
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning")
    return 0

