"""Property-based fuzzing of every operation in our own `/openapi.json` against a real server.

schemathesis (4.x Python API) generates valid and invalid requests from the document served by a
real uvicorn process and checks every answer: no 5xx, documented status codes, content types,
headers and response schemas. Bounded (`MAX_EXAMPLES` per operation and mode) so the whole
module takes about a minute. One test per operation, listed from the committed snapshot.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from live_server import LiveServer, run_live_server, throwaway_postgres
from schemathesis import CheckFunction, GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection

MAX_EXAMPLES = 25
Case = schemathesis.Case[Any]
SNAPSHOT = Path(__file__).resolve().parents[3] / "openapi" / "2026-04-25.json"
#: Records and webhooks are fuzzed by their own issues' suites; this one covers the Platform API core.
LATER = re.compile(r"^/(patients/\{id\}/(records|connections/\{conn_id\}/sync)|webhooks|events)")
OPERATIONS = sorted(
    (method.upper(), path)
    for path, item in json.loads(SNAPSHOT.read_text())["paths"].items()
    for method in item
    if not LATER.match(path)
)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def live(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    """A real server on each backend (PostgreSQL from EHRCONNECT_TEST_DATABASE_URL, else skipped)."""
    from ehrconnect.db_migrations import upgrade

    data_dir = tmp_path_factory.mktemp("fuzz")
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{data_dir / 'fuzz.sqlite3'}"
        upgrade(url)
        with run_live_server(url, data_dir) as server:
            yield server
        return
    with throwaway_postgres() as url:
        upgrade(url)
        with run_live_server(url, data_dir) as server:
            yield server


@pytest.fixture(scope="module")
def api_schema(live: LiveServer) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{live.url}/openapi.json")


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["positive", "negative"])
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_conforms_to_its_schema(
    api_schema: schemathesis.BaseSchema, live: LiveServer, method: str, path: str, mode: GenerationMode
) -> None:
    if mode == GenerationMode.NEGATIVE and path == "/health":
        pytest.skip("/health takes no input to get wrong")
    operation = api_schema[path][method]
    headers = {"Authorization": f"Bearer {live.key}"}
    strategy = operation.as_strategy(generation_mode=mode)
    excluded: list[CheckFunction] = []
    if mode == GenerationMode.POSITIVE:
        # NUL (U+0000) is refused anywhere in a request, a storage rule (PostgreSQL) the document
        # cannot express inside free-form `metadata`; tested in test_conventions_contract.py.
        strategy = strategy.map(_without_cursors).filter(_without_nul)
        if (method, path) == ("PUT", "/patients/{id}"):
            strategy = strategy.map(_same_patient_id)
        if (method, path) == ("POST", "/sessions"):
            strategy = strategy.map(_one_mode)
    else:
        # We accept what the document does not forbid (unknown query parameters, an empty
        # `Version` meaning "absent"); invalid input must still never be a 5xx or off-schema.
        excluded.append(negative_data_rejection)
        # Bogus framing headers (e.g. `transfer-encoding: x`) are refused by the HTTP server
        # (uvicorn's plain-text 400) before any application code runs.
        strategy = strategy.filter(_without_framing_headers)

    @given(case=strategy)
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    def check(case: Case) -> None:
        case.call_and_validate(headers=headers, excluded_checks=excluded)

    check()


FRAMING_HEADERS = {"transfer-encoding", "content-length", "host", "connection", "expect", "upgrade", "te"}


def _without_framing_headers(case: Case) -> bool:
    return not any(name.lower() in FRAMING_HEADERS for name in (case.headers or {}))


def _without_nul(case: Case) -> bool:
    return not any(_has_nul(part) for part in (case.body, case.query, case.path_parameters))


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value or "%00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _without_cursors(case: Case) -> Case:
    """Cursors are opaque server-issued tokens: a random one is rightly a 400 (tested elsewhere)."""
    if case.query:
        case.query = {k: v for k, v in case.query.items() if k not in {"starting_after", "ending_before"}}
    return case


def _same_patient_id(case: Case) -> Case:
    """PUT's body patient_id must equal the path id (a cross-field rule OpenAPI cannot state)."""
    patient_id = case.body.get("patient_id") if isinstance(case.body, dict) else None
    if isinstance(patient_id, str):
        case.path_parameters = {**(case.path_parameters or {}), "id": quote(patient_id, safe="")}
    return case


def _one_mode(case: Case) -> Case:
    """Direct and Picker Mode are mutually exclusive (a 400 when both are sent, tested elsewhere)."""
    if isinstance(case.body, dict) and case.body.get("connection_id") is not None:
        case.body.pop("recommended_connection_ids", None)
    return case
