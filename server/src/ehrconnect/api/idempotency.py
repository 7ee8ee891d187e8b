"""`Idempotency-Key` on every POST: replay the stored answer, refuse a changed request.

Stripe semantics: the first request under a key runs and its response is stored for the TTL
(24 h); a retry with the same key and the same request gets that response again with
`Idempotent-Replayed: true`; the same key with a different request is 409
`idempotency_key_reused`; a retry while the first is still running is 409
`idempotency_key_in_use`. Responses that say nothing about the request's effect (401, 429, 5xx)
are not stored, so the client can simply retry them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ehrconnect.api.context import AppContext, is_api_path
from ehrconnect.errors import error_body
from ehrconnect.kit.crypto import sha256_hex
from ehrconnect.kit.time import utcnow
from ehrconnect.models import IdempotencyRecord

_NOT_STORED = {401, 429}
_REPLAYED_HEADERS = {"content-type"}


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, *, ctx_getter: Callable[[], AppContext]) -> None:
        self.app = app
        self.ctx_getter = ctx_getter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not is_api_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        key = headers.get("idempotency-key")
        authorization = headers.get("authorization", "")
        if key is None or not authorization:
            await self.app(scope, receive, send)
            return
        ctx = self.ctx_getter()
        request_id = scope.get("state", {}).get("request_id", "")
        if not 1 <= len(key) <= 255:
            await _send_json(send, 400, error_body(
                type_="invalid_request_error", code="invalid_data",
                message="Idempotency-Key must be 1 to 255 characters.", param="Idempotency-Key",
                public_url=ctx.settings.public_url, request_id=request_id,
            ))
            return
        body = await _read_body(receive)
        scope_hash = sha256_hex(authorization.partition(" ")[2].strip())
        request_hash = hashlib.sha256(
            b"\n".join([scope["method"].encode(), scope["path"].encode(), scope.get("query_string", b""), body])
        ).hexdigest()

        outcome = await self._begin(ctx, scope_hash, key, request_hash)
        if outcome is not None:
            status, code, message, stored = outcome
            if stored is not None:
                await _replay(send, stored)
            else:
                await _send_json(send, status, error_body(
                    type_="conflict_error", code=code, message=message, param="Idempotency-Key",
                    public_url=ctx.settings.public_url, request_id=request_id,
                ))
            return

        captured: list[Message] = []

        async def capture(message: Message) -> None:
            captured.append(message)

        body_sent = False

        async def replay_receive() -> Message:
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        try:
            await self.app(scope, replay_receive, capture)
        except BaseException:
            await self._forget(ctx, scope_hash, key)
            raise
        start = next(m for m in captured if m["type"] == "http.response.start")
        payload = b"".join(m.get("body", b"") for m in captured if m["type"] == "http.response.body")
        status = int(start["status"])
        if status in _NOT_STORED or status >= 500:
            await self._forget(ctx, scope_hash, key)
        else:
            kept = {
                k.decode("latin-1"): v.decode("latin-1")
                for k, v in start.get("headers", [])
                if k.decode("latin-1").lower() in _REPLAYED_HEADERS
            }
            await self._store(ctx, scope_hash, key, status, kept, payload)
        for captured_message in captured:
            await send(captured_message)

    async def _begin(
        self, ctx: AppContext, scope_hash: str, key: str, request_hash: str
    ) -> tuple[int, str, str, IdempotencyRecord | None] | None:
        """Claim the key, or say why not (conflict, or a stored response to replay)."""
        now = utcnow()
        for _ in range(2):
            try:
                async with ctx.db.session() as session:
                    existing = (
                        await session.execute(
                            select(IdempotencyRecord).where(
                                IdempotencyRecord.scope_hash == scope_hash, IdempotencyRecord.key == key
                            )
                        )
                    ).scalar_one_or_none()
                    if existing is not None and existing.expires_at <= now:
                        await session.delete(existing)
                        await session.flush()
                        existing = None
                    if existing is None:
                        session.add(IdempotencyRecord(
                            scope_hash=scope_hash, key=key, request_hash=request_hash, status="in_progress",
                            created_at=now,
                            expires_at=now + timedelta(seconds=ctx.settings.idempotency_ttl_seconds),
                        ))
                        return None
                    if existing.request_hash != request_hash:
                        return 409, "idempotency_key_reused", (
                            "This Idempotency-Key was already used with a different request."
                        ), None
                    if existing.status != "done":
                        return 409, "idempotency_key_in_use", (
                            "A request with this Idempotency-Key is still in progress; retry shortly."
                        ), None
                    return 200, "", "", existing
            except IntegrityError:
                continue  # a concurrent request claimed the key first: read its row
        return 409, "idempotency_key_in_use", "A request with this Idempotency-Key is in progress.", None

    async def _store(
        self, ctx: AppContext, scope_hash: str, key: str, status: int, headers: dict[str, str], body: bytes
    ) -> None:
        async with ctx.db.session() as session:
            record = (
                await session.execute(
                    select(IdempotencyRecord).where(
                        IdempotencyRecord.scope_hash == scope_hash, IdempotencyRecord.key == key
                    )
                )
            ).scalar_one()
            record.status = "done"
            record.response_status = status
            record.response_headers = headers
            record.response_body = body

    async def _forget(self, ctx: AppContext, scope_hash: str, key: str) -> None:
        async with ctx.db.session() as session:
            await session.execute(
                delete(IdempotencyRecord).where(
                    IdempotencyRecord.scope_hash == scope_hash, IdempotencyRecord.key == key
                )
            )


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _replay(send: Send, record: IdempotencyRecord) -> None:
    body = record.response_body or b""
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (record.response_headers or {}).items()]
    headers += [(b"idempotent-replayed", b"true"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": record.response_status or 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_json(send: Send, status: int, payload: object) -> None:
    body = json.dumps(payload).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    })
    await send({"type": "http.response.body", "body": body})
