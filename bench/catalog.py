"""Benchmark: catalog import of ../shared/data/catalog, then search through the API vs the raw index.

1. Imports every directory file in `<repo>/../shared/data/catalog` (about 29,000 unique
   endpoint URLs, 23,000 after R4/patient-facing filtering, plus 17,000 athenahealth practice
   names) into a fresh database, as `ehrconnect catalog import` does; prints the time and the
   summary. Then re-imports (idempotent: nothing added) and prints that time.
2. Starts the platform under uvicorn (one process, loopback port) and, for the labelled query
   set (server/tests/catalog/labelled_queries.py), interleaves per query:
   * api: `GET /connections?q=...&limit=10` over HTTP with a live API key (auth, middleware,
     search, ranking, source loading, JSON);
   * raw: the same index statements that search runs for that query (the FTS5 / tsvector word
     query, plus the trigram query when search uses it), executed directly on one open
     connection of the same driver (aiosqlite / asyncpg), no transaction, no ORM.
   For context it also reports `api_floor`, `GET /connections/{id}` (one primary-key read
   behind the same auth and middleware: what any API request costs), and `raw_dbapi` (SQLite
   only), the same statements through the stdlib sqlite3 module in-process.
3. Prints p50/p99 of each and the ratio api/raw (aim: <= 1.5x).

    .venv/bin/python bench/catalog.py [--db sqlite|postgres] [--rounds 5] [--json]

PostgreSQL: set EHRCONNECT_BENCH_DATABASE_URL (e.g. postgresql://postgres@127.0.0.1:55432/postgres);
a throwaway database is created next to it and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server" / "src"))
sys.path.insert(0, str(ROOT / "server" / "tests" / "catalog"))
sys.path.insert(0, str(ROOT / "bench"))

from api import _database, _server  # noqa: E402 - shared bench plumbing (database, uvicorn)

CATALOG_DIR = (ROOT / ".." / "shared" / "data" / "catalog").resolve()
SECRET = "bench-secret-key-0123456789abcdef0123456789"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _stats(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(1000 * statistics.median(values), 3),
        "p99_ms": round(1000 * _percentile(values, 0.99), 3),
        "n": len(values),
    }


async def _import(url: str) -> tuple[dict[str, Any], float, dict[str, Any], float]:
    from ehrconnect.catalog.cli import import_paths
    from ehrconnect.kit.db import Database

    db = Database(url)
    try:
        started = time.perf_counter()
        async with db.session() as session:
            first = await import_paths(session, [CATALOG_DIR], "live")
        first_seconds = time.perf_counter() - started
        started = time.perf_counter()
        async with db.session() as session:
            again = await import_paths(session, [CATALOG_DIR], "live")
        again_seconds = time.perf_counter() - started
    finally:
        await db.dispose()
    return first.as_dict(), first_seconds, again.as_dict(), again_seconds


async def _live_key(url: str) -> str:
    from ehrconnect.auth.keys import create_key
    from ehrconnect.kit.db import Database

    db = Database(url)
    try:
        async with db.session() as session:
            return (await create_key(session, organization="bench", environment="live")).secret
    finally:
        await db.dispose()


async def _plans(url: str, queries: list[str]) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """The index statements search runs for each query (decided once, outside the timing)."""
    from ehrconnect.catalog.search import index_queries_for
    from ehrconnect.kit.db import Database

    db = Database(url)
    plans = {}
    try:
        async with db.session() as session:
            for q in queries:
                plans[q] = [(iq.sql, iq.params) for iq in await index_queries_for(session, "live", q)]
    finally:
        await db.dispose()
    return plans


def _positional(sql: str, params: dict[str, Any]) -> tuple[str, list[Any]]:
    """`:name` -> `$n` for asyncpg (same number for a repeated name)."""
    order: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in order:
            order.append(name)
        return f"${order.index(name) + 1}"

    text = re.sub(r"(?<![:\w]):([a-z_][a-z0-9_]*)", replace, sql)
    return text, [params[name] for name in order]


class RawRunner:
    """Executes index statements directly on one connection of the app's driver."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite = url.startswith("sqlite")
        self.conn: Any = None

    async def open(self) -> None:
        if self.sqlite:
            import aiosqlite

            self.conn = await aiosqlite.connect(self.url.split(":///", 1)[1])
        else:
            import asyncpg

            self.conn = await asyncpg.connect(self.url.replace("+asyncpg", ""))

    async def run(self, plan: list[tuple[str, dict[str, Any]]]) -> None:
        for sql, params in plan:
            if self.sqlite:
                async with self.conn.execute(sql, params) as cursor:
                    await cursor.fetchall()
            else:
                text, args = _positional(sql, params)
                await self.conn.fetch(text, *args)

    async def close(self) -> None:
        await self.conn.close()


async def _search_bench(
    api_url: str, key: str, db_url: str, queries: list[str], rounds: int
) -> dict[str, dict[str, float]]:
    import httpx

    plans = await _plans(db_url, queries)
    raw = RawRunner(db_url)
    await raw.open()
    dbapi = sqlite3.connect(db_url.split(":///", 1)[1]) if raw.sqlite else None
    api_times: list[float] = []
    floor_times: list[float] = []
    raw_times: list[float] = []
    dbapi_times: list[float] = []
    headers = {"Authorization": f"Bearer {key}"}
    try:
        async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=30) as client:
            for q in queries[:5]:  # warm-up: connections, caches, prepared statements
                (await client.get("/connections", params={"q": q})).raise_for_status()
                await raw.run(plans[q])
            first = (await client.get("/connections", params={"limit": 1})).json()["data"][0]["id"]
            for _ in range(rounds):
                for q in queries:
                    started = time.perf_counter()
                    response = await client.get("/connections", params={"q": q, "limit": 10})
                    api_times.append(time.perf_counter() - started)
                    response.raise_for_status()
                    started = time.perf_counter()
                    (await client.get(f"/connections/{first}")).raise_for_status()
                    floor_times.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    await raw.run(plans[q])
                    raw_times.append(time.perf_counter() - started)
                    if dbapi is not None:
                        started = time.perf_counter()
                        for sql, params in plans[q]:
                            dbapi.execute(sql, params).fetchall()
                        dbapi_times.append(time.perf_counter() - started)
    finally:
        await raw.close()
        if dbapi is not None:
            dbapi.close()
    result = {"api": _stats(api_times), "raw": _stats(raw_times), "api_floor": _stats(floor_times)}
    if dbapi_times:
        result["raw_dbapi"] = _stats(dbapi_times)
    return result


@contextmanager
def _platform(db_url: str, workdir: str) -> Iterator[str]:
    env = {
        "EHRCONNECT_DATABASE_URL": db_url, "EHRCONNECT_DATA_DIR": workdir, "EHRCONNECT_ENVIRONMENT": "production",
        "EHRCONNECT_SECRET_KEY": SECRET, "EHRCONNECT_SANDBOX_EHR_ENABLED": "false",
        "EHRCONNECT_EMBEDDED_WORKER": "false", "EHRCONNECT_RATE_LIMIT_PER_SECOND": "0",
        "EHRCONNECT_LOG_LEVEL": "WARNING", "EHRCONNECT_LOG_JSON": "true",
    }
    with _server("ehrconnect.app:create_app_from_env", env) as url:
        yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=5, help="passes over the query set")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not CATALOG_DIR.is_dir():
        sys.exit(f"catalog data not found at {CATALOG_DIR}")
    from labelled_queries import QUERIES

    queries = [label.query for label in QUERIES]
    with tempfile.TemporaryDirectory() as tmp, _database(args.db, Path(tmp)) as db_url:
        summary, import_seconds, again, again_seconds = asyncio.run(_import(db_url))
        key = asyncio.run(_live_key(db_url))
        with _platform(db_url, tmp) as api_url:
            search = asyncio.run(_search_bench(api_url, key, db_url, queries, args.rounds))
    ratio_p50 = search["api"]["p50_ms"] / search["raw"]["p50_ms"]
    ratio_p99 = search["api"]["p99_ms"] / search["raw"]["p99_ms"]
    report = {
        "db": args.db,
        "import_seconds": round(import_seconds, 2),
        "reimport_seconds": round(again_seconds, 2),
        "import": {k: summary[k] for k in ("records", "unique_urls", "added", "merged", "names_added", "skipped")},
        "reimport": {k: again[k] for k in ("added", "updated", "unchanged", "names_added")},
        "queries": len(queries),
        "rounds": args.rounds,
        "search": search,
        "ratio_p50": round(ratio_p50, 2),
        "ratio_p99": round(ratio_p99, 2),
        "load_average": os.getloadavg()[0],
    }
    if args.json:
        print(json.dumps(report))
        return
    print(f"catalog import ({args.db}): {import_seconds:.1f}s for {summary['records']} records -> "
          f"{summary['unique_urls']} sources ({summary['added']} added, {summary['merged']} merged, "
          f"{summary['names_added']} names); skipped {summary['skipped']}")
    print(f"re-import: {again_seconds:.1f}s, added {again['added']}, updated {again['updated']}, "
          f"unchanged {again['unchanged']}")
    for name, stats in search.items():
        print(f"search {name:9s} p50 {stats['p50_ms']:8.2f} ms   p99 {stats['p99_ms']:8.2f} ms   (n={stats['n']})")
    print(f"ratio api/raw: p50 {ratio_p50:.2f}x, p99 {ratio_p99:.2f}x (aim <= 1.5x); "
          f"load average {report['load_average']:.1f}")


if __name__ == "__main__":
    main()
