"""Benchmark: Direct Mode session URL -> 302 to the EHR, against a bare redirect handler.

Runs the platform (with the built-in sandbox EHR mounted) under uvicorn on a loopback port, adds a
bare ``/__bench/bare-redirect`` route to the same app (same middleware stack), creates a
Direct Mode session, warms discovery, then times ``GET {session url}`` (each request starts a new
launch: session lookup, client resolution, PKCE, state row insert + commit) and the bare redirect,
interleaved. Prints medians, p95 and the ratio (target: <= 2x), and the server's CPU time per
request of each kind (a load-independent view: on a busy machine wall time is dominated by thread
and process wake-ups around each database round trip).

    .venv/bin/python bench/connect.py [--requests 500] [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi.responses import RedirectResponse


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pct(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct))]


async def _make_key(url: str) -> str:
    from ehrconnect.auth.keys import create_key
    from ehrconnect.kit.db import Database

    db = Database(url)
    try:
        async with db.session() as session:
            return (await create_key(session, organization="bench", environment="sandbox")).secret
    finally:
        await db.dispose()


def _settings(port: int, tmp: Path, database_url: str | None) -> Any:
    from ehrconnect.config import Settings

    return Settings(
        environment="test", public_url=f"http://127.0.0.1:{port}", data_dir=tmp,
        database_url=database_url or f"sqlite:///{tmp / 'bench.sqlite3'}",
        secret_key="bench-secret-key-0123456789abcdef0123456789",
        sandbox_ehr_enabled=True, sandbox_ehr_url=None, embedded_worker=False,
        rate_limit_per_second=1e6, rate_limit_burst=10**6, log_level="WARNING",
    )


def serve(port: int, tmp: Path, database_url: str | None) -> None:
    """Child process: the platform plus a bare redirect route, on one uvicorn server."""
    import logging

    from ehrconnect.app import create_app

    settings = _settings(port, tmp, database_url)
    app = create_app(settings)
    logging.getLogger("ehrconnect").setLevel(logging.WARNING)
    target = f"{settings.public_url}/sandbox-ehr/normal/oauth/authorize?state=x"

    @app.get("/__bench/bare-redirect", include_in_schema=False)
    async def bare_redirect() -> RedirectResponse:
        return RedirectResponse(target, status_code=302)

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve, args.data_dir, args.database_url)
        return 0

    from ehrconnect.db_migrations import upgrade

    tmp = Path(tempfile.mkdtemp(prefix="ehrc-bench-"))
    port = _free_port()
    settings = _settings(port, tmp, args.database_url)
    upgrade(settings.resolved_database_url)
    key = asyncio.run(_make_key(settings.resolved_database_url))
    command = [sys.executable, __file__, "--serve", str(port), "--data-dir", str(tmp)]
    if args.database_url:
        command += ["--database-url", args.database_url]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_up(settings.public_url, child)
        connect_times, bare_times, cpu = _measure(settings.public_url, key, args.requests, child.pid)
    finally:
        child.terminate()
        child.wait(timeout=15)
        shutil.rmtree(tmp, ignore_errors=True)

    connect_med, bare_med = statistics.median(connect_times), statistics.median(bare_times)
    backend = "postgresql" if "postgres" in settings.resolved_database_url else "sqlite"
    print(f"direct-mode session URL -> 302 ({backend}, {args.requests} requests, server in its own process)")
    print(f"  session redirect: median {connect_med:.2f} ms  p95 {_pct(connect_times, 0.95):.2f} ms")
    print(f"  bare redirect:    median {bare_med:.2f} ms  p95 {_pct(bare_times, 0.95):.2f} ms")
    print(f"  ratio (median):   {connect_med / bare_med:.2f}x  (target <= 2x)")
    print(f"  server CPU/request: session {cpu[0]:.2f} ms, bare {cpu[1]:.2f} ms, ratio {cpu[0] / cpu[1]:.2f}x"
          "  (load-independent; excludes the database server process)")
    return 0


def _wait_up(url: str, child: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError("the platform server exited")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the platform server did not start")


def _cpu_ms(pid: int) -> float:
    import psutil  # type: ignore[import-untyped]

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system) * 1000


def _measure(url: str, key: str, requests: int, pid: int) -> tuple[list[float], list[float], tuple[float, float]]:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as api:
        source = next(
            s["id"] for s in api.get("/connections", params={"q": "Sandbox Health", "limit": 100}).json()["data"]
            if s["fhir_base_url"] == f"{url}/sandbox-ehr/normal/fhir"
        )
        session = api.post("/sessions", json={
            "patient_id": "bench-patient", "return_url": "http://127.0.0.1/return",
            "connection_id": source, "expires_in": 86400,
        }).json()
    session_url, bare_url = session["url"], f"{url}/__bench/bare-redirect"
    with httpx.Client(follow_redirects=False) as browser:
        time.sleep(1.0)  # creating the session started the discovery prefetch; let it land
        response = browser.get(session_url)
        if "/oauth/authorize" not in response.headers.get("location", ""):
            raise RuntimeError("the session URL did not redirect to the sandbox authorize endpoint")
        for _ in range(50):
            browser.get(session_url)
            browser.get(bare_url)
        connect_times: list[float] = []
        bare_times: list[float] = []
        for _ in range(requests):
            for target, sink in ((session_url, connect_times), (bare_url, bare_times)):
                start = time.perf_counter()
                response = browser.get(target)
                sink.append((time.perf_counter() - start) * 1000)
                assert response.status_code == 302
        cpu: list[float] = []
        for target in (session_url, bare_url):  # blocks of one kind, to attribute server CPU time
            before = _cpu_ms(pid)
            for _ in range(requests):
                browser.get(target)
            cpu.append((_cpu_ms(pid) - before) / requests)
    return connect_times, bare_times, (cpu[0], cpu[1])


if __name__ == "__main__":
    sys.exit(main())
