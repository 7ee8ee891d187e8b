"""Fakes and sample payloads for SDK unit tests (imported by tests and conftest)."""

from __future__ import annotations

import json
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

import httpx

BASE_URL = "https://api.example.test"
API_KEY = "mb_sk_sbx_unit_test_secret_key"
TS = "2026-04-25T14:30:00.000Z"

Responder = httpx.Response | BaseException | Callable[[httpx.Request], httpx.Response]


def reply(
    status: int = 200,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
    request_id: str | None = None,
) -> httpx.Response:
    """A response shaped like the real server's: JSON, ``X-Request-Id`` and ``Version``."""
    base = {"X-Request-Id": request_id or str(uuid.uuid4()), "Version": "2026-04-25"}
    if content is None:
        base["Content-Type"] = "application/json"
        content = json.dumps(body if body is not None else {}).encode()
    base.update(headers or {})
    return httpx.Response(status, content=content, headers=base)


def error_reply(
    status: int,
    type_: str,
    code: str,
    *,
    message: str = "something went wrong",
    param: str | None = None,
    headers: dict[str, str] | None = None,
    request_id: str = "9c9b6f7a-8e4f-4a3b-9c1e-6f3a2d8b7c4d",
) -> httpx.Response:
    """The wire contract's error envelope."""
    envelope = {
        "error": {
            "type": type_,
            "code": code,
            "message": message,
            "param": param,
            "doc_url": f"https://api.example.test/docs/errors#{code}",
            "request_id": request_id,
        }
    }
    return reply(status, envelope, headers=headers, request_id=request_id)


class FakeAPI:
    """Records every request and answers from a queue of scripted responses."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self._queue: deque[Responder] = deque()

    def add(self, *responders: Responder) -> FakeAPI:
        self._queue.extend(responders)
        return self

    def handler(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        if not self._queue:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        item = self._queue.popleft()
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, httpx.Response):
            return item
        return item(request)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def json(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)

    def remaining(self) -> int:
        return len(self._queue)


# -- sample objects (shapes from the wire contract) --------------------------------------------


def patient_json(pid: str = "user_42", **extra: Any) -> dict[str, Any]:
    return {
        "id": pid,
        "resource_type": "patient",
        "email": "jane@example.com",
        "name": "Jane Roe",
        "metadata": {"plan": "gold"},
        "created_at": TS,
        **extra,
    }


def patient_connection_json(cid: str = "conn_01J9YR9N3X4VZ6P2K5RH7M3LMP", status: str = "active") -> dict[str, Any]:
    return {
        "id": cid,
        "resource_type": "connection",
        "session_id": "sess_01J9YQ8M2X4VZ6P2K5RH7M3KQT",
        "connection_id": "fhirsrc_01J9YR9N3X4VZ6P2K5RH7M3LMP",
        "status": status,
        "scopes": ["patient/*.read", "offline_access"],
        "failure_code": None,
        "failure_at": None,
        "created_at": TS,
        "updated_at": TS,
        "last_synced_at": None,
        "sync_status": "pending",
    }


def session_json(sid: str = "sess_01J9YQ8M2X4VZ6P2K5RH7M3KQT", **extra: Any) -> dict[str, Any]:
    return {
        "id": sid,
        "resource_type": "session",
        "status": "open",
        "url": "https://api.example.test/c/9c9b6f7a8e4f4a3b9c1e6f3a2d8b7c4d",
        "patient_id": "user_42",
        "connection_id": None,
        "recommended_connection_ids": ["fhirsrc_02Zh2bnvRoWQJYgOAkI0Twcc"],
        "return_url": "https://app.example.com/connected",
        "return_button_label": "Acme Health",
        "connections": [],
        "expires_at": "2026-04-25T15:00:00.000Z",
        "metadata": {"signup_source": "checkout"},
        "created_at": TS,
        **extra,
    }


def source_json(sid: str = "fhirsrc_01J9YR9N3X4VZ6P2K5RH7M3LMP") -> dict[str, Any]:
    return {
        "id": sid,
        "resource_type": "fhir_source",
        "name": "Epic MyChart",
        "type": "epic",
        "fhir_base_url": "https://fhir.epic.com/interconnect-fhir-oauth/api/FHIR/R4",
        "logo_url": None,
        "portal_url": "https://mychart.epic.com",
    }


def list_json(data: list[Any], *, next_cursor: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "resource_type": "list",
        "data": data,
        "has_more": next_cursor is not None,
        "next_cursor": next_cursor,
        **extra,
    }
