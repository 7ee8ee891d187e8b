"""``python -m trialmatched --port N`` (what scripts/dev.py runs as ``trialmatched --port N``)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from trialmatched_fakes import API_KEY
from trialmatched_stack import server_support


def test_serves_on_the_port_and_prints_its_url(tmp_path: Path) -> None:
    port = server_support().free_port()
    env = dict(
        os.environ,
        EHRCONNECT_API_KEY=API_KEY,
        EHRCONNECT_API_URL="http://127.0.0.1:9",
        TRIALMATCHED_PUBLIC_URL=f"http://127.0.0.1:{port}",
        TRIALMATCHED_DATABASE=str(tmp_path / "tm.sqlite3"),
        TRIALMATCHED_SECRET_KEY="cli-test-secret-0123456789abcdef",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "trialmatched", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        first_line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in first_line and API_KEY not in first_line
        deadline = time.monotonic() + 20
        while True:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None, "app did not start"
                time.sleep(0.1)
        assert page.status_code == 200 and "Sign in as demo patient" in page.text
        assert (tmp_path / "tm.sqlite3").exists()
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=15)
    assert API_KEY not in stderr


def test_refuses_to_start_without_a_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("EHRCONNECT_API_KEY", "MEDBLOCKS_API_KEY")}
    env["TRIALMATCHED_DATABASE"] = str(tmp_path / "tm.sqlite3")
    result = subprocess.run(
        [sys.executable, "-m", "trialmatched", "--port", "1"], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2 and "EHRCONNECT_API_KEY is required" in result.stderr
