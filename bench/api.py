"""Benchmark: Platform API throughput against a bare ASGI handler doing the same database read.

Two real HTTP servers, each `uvicorn` in its own process on a free loopback port, one worker:

* platform: the full app (`ehrconnect.app:create_app_from_env`): API-key auth, rate limiter,
  version resolution, request-id/idempotency/security middleware, pydantic rendering;
* bare: a plain Starlette app (`bench/api.py:bare_app`) on the same database with the same
  engine settings, answering `GET /sessions/{id}` with the same two queries (session joined to its
  patient, then the session's connections) rendered as JSON, and nothing else.

Several concurrent `httpx.AsyncClient` clients send a fixed number of requests (with a duration
cap) to `GET /sessions/{id}` on both, alternating between the two servers for several rounds
(the median round counts, so a change in machine load hits both alike), then `POST /sessions`
on the platform. Prints requests/s, p50/p99 latency, and the read ratio platform/bare (aim: >= 0.60).

    .venv/bin/python bench/api.py [--db sqlite|postgres] [--requests 3000] [--concurrency 16]
                                  [--duration-cap 30] [--rounds 3] [--json]

PostgreSQL: set EHRCONNECT_BENCH_DATABASE_URL (e.g. postgresql://postgres@127.0.0.1:55432/postgres);
a throwaway database is created next to it and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server" / "src"))

SECRET = "bench-secret-key-0123456789abcdef0123456789"
RETURN_URL = "https://app.example.com/connected"


# --- the bare handler (runs inside its own uvicorn process) -----------------------------------


def bare_app() -> Any:
    """`uvicorn --factory api:bare_app`: one route, the same reads as GET /sessions/{id}."""
    from ehrconnect.config import Settings
    from ehrconnect.kit.db import Database
    from ehrconnect.kit.time import iso
    from ehrconnect.models import Connection, ConnectSession, Patient
    from sqlalchemy import select
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    settings = Settings()
    db = Database(settings.resolved_database_url, pool_size=settings.db_pool_size)

    async def get_session(request: Request) -> JSONResponse:
        async with db.session() as session:
            found = (
                await session.execute(
                    select(ConnectSession, Patient)
                    .join(Patient, Patient.pk == ConnectSession.patient_pk)
                    .where(ConnectSession.id == request.path_params["id"])
                )
            ).one_or_none()
            if found is None:
                return JSONResponse({"error": "not found"}, status_code=404)
            row, patient = found
            attempts = (
                await session.execute(
                    select(Connection).where(Connection.session_id == row.id).order_by(Connection.id)
                )
            ).scalars().all()
        return JSONResponse({
            "id": row.id, "resource_type": "session", "status": row.status, "patient_id": patient.patient_id,
            "connection_id": row.source_id, "recommended_connection_ids": row.recommended_source_ids,
            "return_url": row.return_url, "return_button_label": row.return_button_label,
            "connections": [{"id": c.id, "status": c.status} for c in attempts],
            "expires_at": iso(row.expires_at), "metadata": row.metadata_, "created_at": iso(row.created_at),
        })

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        await db.dispose()

    return Starlette(routes=[Route("/sessions/{id}", get_session)], lifespan=lifespan)


# --- orchestration -----------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _database(kind: str, workdir: Path) -> Iterator[str]:
    """A fresh, migrated database (SQLite file or throwaway PostgreSQL database)."""
    from ehrconnect.config import to_async_url
    from ehrconnect.db_migrations import upgrade

    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / 'bench.sqlite3'}"
        upgrade(url)
        yield url
        return
    base = os.environ.get("EHRCONNECT_BENCH_DATABASE_URL")
    if not base:
        sys.exit("--db postgres needs EHRCONNECT_BENCH_DATABASE_URL")
    import asyncpg

    name = f"ehrc_bench_{uuid.uuid4().hex[:8]}"
    admin = to_async_url(base).replace("+asyncpg", "")

    async def admin_sql(sql: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin_sql(f'CREATE DATABASE "{name}"'))
    try:
        url = f"{to_async_url(base).rpartition('/')[0]}/{name}"
        upgrade(url)
        yield url
    finally:
        asyncio.run(admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _make_key(url: str) -> str:
    from ehrconnect.auth.keys import create_key
    from ehrconnect.kit.db import Database

    db = Database(url)
    try:
        async with db.session() as session:
            return (await create_key(session, organization="bench", environment="sandbox")).secret
    finally:
        await db.dispose()


@contextmanager
def _server(target: str, env: dict[str, str], app_dir: Path | None = None) -> Iterator[str]:
    port = _free_port()
    command = [sys.executable, "-m", "uvicorn", target, "--factory", "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "warning", "--no-access-log"]
    if app_dir is not None:
        command += ["--app-dir", str(app_dir)]
    process = subprocess.Popen(command, env={**os.environ, **env, "EHRCONNECT_PUBLIC_URL": f"http://127.0.0.1:{port}"})
    url = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/health", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{target} did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


async def _load(
    name: str, method: str, url: str, *, headers: dict[str, str], body: dict[str, Any] | None,
    requests: int, concurrency: int, cap: float,
) -> Result:
    """`concurrency` clients share a fixed budget of requests; stop early at the duration cap."""
    import httpx

    latencies: list[float] = []
    errors = 0
    remaining = requests
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30) as client:
        for _ in range(min(50, requests)):  # warm-up: connections, caches, JIT-free but pool-full
            await client.request(method, url, json=body)
        started = time.perf_counter()
        deadline = started + cap

        async def worker() -> None:
            nonlocal remaining, errors
            while remaining > 0 and time.perf_counter() < deadline:
                remaining -= 1
                sent = time.perf_counter()
                response = await client.request(method, url, json=body)
                latencies.append(time.perf_counter() - sent)
                if response.status_code != 200:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return Result(
        name=name, requests=len(latencies), seconds=round(elapsed, 2), rps=round(len(latencies) / elapsed, 1),
        p50_ms=round(statistics.median(ordered) * 1000, 2),
        p99_ms=round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
        errors=errors,
    )


def _median(rounds: list[Result]) -> Result:
    """The round with the median throughput, with the request and error counts of all rounds."""
    ordered = sorted(rounds, key=lambda r: r.rps)
    middle = ordered[len(ordered) // 2]
    return Result(
        name=middle.name, requests=sum(r.requests for r in rounds), seconds=round(sum(r.seconds for r in rounds), 2),
        rps=middle.rps, p50_ms=middle.p50_ms, p99_ms=middle.p99_ms, errors=sum(r.errors for r in rounds),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--requests", type=int, default=3000, help="requests per measurement")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients")
    parser.add_argument("--duration-cap", type=float, default=30.0, help="seconds per measurement at most")
    parser.add_argument("--rounds", type=int, default=3, help="alternating read rounds (median reported)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp, _database(args.db, Path(tmp)) as db_url:
        key = asyncio.run(_make_key(db_url))
        env = {
            "EHRCONNECT_DATABASE_URL": db_url, "EHRCONNECT_DATA_DIR": tmp, "EHRCONNECT_ENVIRONMENT": "production",
            "EHRCONNECT_SECRET_KEY": SECRET, "EHRCONNECT_SANDBOX_EHR_ENABLED": "false",
            "EHRCONNECT_EMBEDDED_WORKER": "false", "EHRCONNECT_RATE_LIMIT_PER_SECOND": "0",
            "EHRCONNECT_LOG_LEVEL": "WARNING", "EHRCONNECT_LOG_JSON": "true",
        }
        auth = {"Authorization": f"Bearer {key}"}
        per_round = max(1, args.requests // args.rounds)
        load = {"requests": per_round, "concurrency": args.concurrency, "cap": args.duration_cap / args.rounds}
        with _server("ehrconnect.app:create_app_from_env", env) as api_url, \
                _server("api:bare_app", env, app_dir=Path(__file__).parent) as bare_url:
            import httpx

            created = httpx.post(f"{api_url}/sessions", headers=auth, json={
                "patient_id": "bench_patient", "return_url": RETURN_URL, "patient_email": "bench@example.com",
                "metadata": {"source": "bench"},
            })
            created.raise_for_status()
            session_id = created.json()["id"]
            # Alternate the two servers round by round, so a change in machine load hits both alike.
            platform_rounds, bare_rounds = [], []
            for _ in range(args.rounds):
                platform_rounds.append(asyncio.run(
                    _load("platform GET /sessions/{id}", "GET", f"{api_url}/sessions/{session_id}",
                          headers=auth, body=None, **load)
                ))
                bare_rounds.append(asyncio.run(
                    _load("bare GET /sessions/{id}", "GET", f"{bare_url}/sessions/{session_id}",
                          headers={}, body=None, **load)
                ))
            platform_write = asyncio.run(
                _load("platform POST /sessions", "POST", f"{api_url}/sessions", headers=auth,
                      body={"patient_id": "bench_patient", "return_url": RETURN_URL},
                      **{**load, "requests": args.requests, "cap": args.duration_cap})
            )
        platform_read, bare_read = _median(platform_rounds), _median(bare_rounds)

    results = [platform_read, bare_read, platform_write]
    ratio = round(platform_read.rps / bare_read.rps, 3) if bare_read.rps else 0.0
    if args.json:
        print(json.dumps({"db": args.db, "results": [asdict(r) for r in results], "read_ratio": ratio}, indent=2))
    else:
        print(f"database: {args.db}; {args.concurrency} concurrent clients, {args.requests} requests per run; "
              f"reads: median of {args.rounds} alternating rounds")
        print(f"{'run':32} {'requests':>8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
        for r in results:
            print(f"{r.name:32} {r.requests:>8} {r.rps:>9} {r.p50_ms:>8} {r.p99_ms:>8} {r.errors:>6}")
        print(f"read ratio platform/bare: {ratio:.2f} (aim >= 0.60)")
    return 0 if all(r.errors == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
