"""A fake ehrconnect API behind ``httpx.MockTransport``, for the app's unit tests.

It implements just enough of the wire contract (api-decisions.md) for TrialMatched: catalog
search, session create/retrieve, patient retrieve and records paging, the error envelope and
``X-Request-Id``. Tests mutate ``FakeEhrconnect`` to put sessions into each state.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

API_URL = "http://127.0.0.1:9"  # never contacted: the transport answers
API_KEY = "mb_sk_sbx_FAKE_unit_key_0123456789abcdefghijkl"
TS = "2026-04-25T14:30:00.000Z"
SOURCES = [
    {"id": "fhirsrc_01AAAAAAAAAAAAAAAAAAAAAAAA", "name": "Sandbox Health", "type": "sandbox"},
    {"id": "fhirsrc_01BBBBBBBBBBBBBBBBBBBBBBBB", "name": "Sandbox Health (consent denied)", "type": "sandbox"},
    {"id": "fhirsrc_01CCCCCCCCCCCCCCCCCCCCCCCC", "name": "Mercy <b>General</b>", "type": "epic"},
]


def _source(entry: dict[str, str]) -> dict[str, Any]:
    return {
        "resource_type": "fhir_source",
        "fhir_base_url": f"https://ehr.example/{entry['id']}/fhir",
        "logo_url": None,
        "portal_url": None,
        **entry,
    }


@dataclass
class FakeEhrconnect:
    """The fake server's state plus a log of the requests it saw."""

    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    patients: dict[str, dict[str, Any]] = field(default_factory=dict)
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    #: (method, path prefix) -> (status, type, code): force an error answer.
    fail: dict[tuple[str, str], tuple[int, str, str]] = field(default_factory=dict)
    last_request_id: str = ""

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def reply(self, status: int, body: Any) -> httpx.Response:
        self.last_request_id = str(uuid.uuid4())
        headers = {"X-Request-Id": self.last_request_id, "Version": "2026-04-25"}
        return httpx.Response(status, json=body, headers=headers)

    def error(self, status: int, type_: str, code: str) -> httpx.Response:
        self.last_request_id = str(uuid.uuid4())
        body = {
            "error": {
                "type": type_, "code": code, "message": f"{code} happened", "param": None,
                "doc_url": f"{API_URL}/docs/errors#{code}", "request_id": self.last_request_id,
            }
        }
        headers = {"X-Request-Id": self.last_request_id, "Version": "2026-04-25"}
        return httpx.Response(status, json=body, headers=headers)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return self.error(401, "authentication_error", "invalid_api_key")
        path = request.url.path
        for (method, prefix), (status, type_, code) in self.fail.items():
            if request.method == method and path.startswith(prefix):
                return self.error(status, type_, code)
        if request.method == "GET" and path == "/connections":
            q = request.url.params.get("q", "").lower()
            found = [_source(s) for s in SOURCES if q in s["name"].lower()]
            return self.reply(200, {"resource_type": "list", "data": found, "has_more": False, "next_cursor": None})
        if request.method == "GET" and path.startswith("/connections/"):
            for entry in SOURCES:
                if entry["id"] == path.rsplit("/", 1)[1]:
                    return self.reply(200, _source(entry))
            return self.error(404, "not_found_error", "resource_not_found")
        if request.method == "POST" and path == "/sessions":
            return self.create_session(json.loads(request.content))
        if request.method == "GET" and path.startswith("/sessions/"):
            session = self.sessions.get(path.rsplit("/", 1)[1])
            return self.reply(200, session) if session else self.error(404, "not_found_error", "resource_not_found")
        if request.method == "GET" and path.endswith("/records"):
            return self.records_page(path.split("/")[2], request.url.params)
        if request.method == "GET" and path.startswith("/patients/"):
            patient = self.patients.get(path.split("/")[2])
            return self.reply(200, patient) if patient else self.error(404, "not_found_error", "resource_not_found")
        return self.error(404, "not_found_error", "resource_not_found")

    def create_session(self, body: dict[str, Any]) -> httpx.Response:
        session_id = "sess_" + uuid.uuid4().hex[:26].upper()
        session = {
            "id": session_id, "resource_type": "session", "status": "open",
            "url": f"{API_URL}/c/{uuid.uuid4().hex}", "patient_id": body["patient_id"],
            "connection_id": body.get("connection_id"), "recommended_connection_ids": None,
            "return_url": body["return_url"], "return_button_label": body.get("return_button_label"),
            "connections": [], "expires_at": TS, "metadata": body.get("metadata") or {}, "created_at": TS,
        }
        self.sessions[session_id] = session
        self.patients.setdefault(body["patient_id"], {
            "id": body["patient_id"], "resource_type": "patient", "email": None, "name": None,
            "metadata": {}, "created_at": TS, "connections": [],
        })
        return self.reply(200, session)

    def finish(self, session_id: str, *outcomes: tuple[str, str, str | None]) -> None:
        """Complete a session with attempts ``(source_id, status, failure_code)``."""
        session = self.sessions[session_id]
        session["status"] = "complete"
        for source_id, status, failure in outcomes:
            conn_id = "conn_" + uuid.uuid4().hex[:26].upper() if status == "active" else None
            session["connections"].append({
                "id": conn_id, "connection_id": source_id, "status": status, "failure_code": failure,
                "failure_at": TS if failure else None, "created_at": TS,
            })
            if conn_id:
                self.patients[session["patient_id"]]["connections"].insert(0, {
                    "id": conn_id, "resource_type": "connection", "session_id": session_id,
                    "connection_id": source_id, "status": status, "scopes": [], "failure_code": None,
                    "failure_at": None, "created_at": TS, "updated_at": TS, "last_synced_at": None,
                    "sync_status": "running",
                })

    def records_page(self, patient_id: str, params: httpx.QueryParams) -> httpx.Response:
        items = self.records.get(patient_id, [])
        start = int(params.get("starting_after") or 0)
        count = int(params.get("count") or 100)
        page = items[start:start + count]
        more = start + count < len(items)
        return self.reply(200, {
            "resource_type": "list", "data": page, "has_more": more,
            "next_cursor": str(start + count) if more else None, "previous_cursor": None, "patient_id": patient_id,
        })

    def add_records(self, patient_id: str, source_id: str, n: int) -> None:
        bucket = self.records.setdefault(patient_id, [])
        bucket.extend(
            {"source": source_id, "resource": {"resourceType": "Observation", "id": f"o{len(bucket) + i}"}}
            for i in range(n)
        )

    def mark_synced(self, patient_id: str) -> None:
        for connection in self.patients[patient_id]["connections"]:
            connection["last_synced_at"] = TS
            connection["sync_status"] = "succeeded"
