"""Transport facts attached to every object the client returns."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ResponseInfo:
    """The HTTP status, ``X-Request-Id``, ``Version`` and ``Idempotent-Replayed`` of a response."""

    http_status: int
    request_id: str | None
    api_version: str | None
    idempotent_replayed: bool
