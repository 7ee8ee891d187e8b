"""`Idempotency-Key` on every POST: replay the stored answer, refuse a changed request.

Stripe semantics: the first request under a key runs and its response is stored for the TTL
(24 h); a retry with the same key and the same request gets that response again with
`Idempotent-Replayed: true`; the same key with a different request is 409
`idempotency_key_reused`; a retry while the first is still running is 409
`idempotency_key_in_use`. Responses that say nothing about the request's effect (401, 429, 5xx)
are not stored, so the client can simply retry them.

The presented API key is authenticated before anything is claimed or replayed (a revoked key
must not read back a stored session URL), and keys are scoped per tenant, (organization,
environment), so a retry after a key rotation still replays. Stored bodies hold session URLs
and PHI, so they are encrypted at rest. A claim left `in_progress` by a crashed process is
taken over once it is older than `STALE_AFTER`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.exc import IntegrityError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ehrconnect.api.context import AppContext, is_api_path
from ehrconnect.api.deps import resolve_api_key
from ehrconnect.errors import APIError, error_body, render
from ehrconnect.kit.crypto import TokenCipher, sha256_hex
from ehrconnect.kit.time import utcnow
from ehrconnect.models import IdempotencyRecord
from ehrconnect.versions import resolve_version

_NOT_STORED = {401, 429}
_REPLAYED_HEADERS = {"content-type"}
#: An `in_progress` claim older than this belongs to a dead process and may be taken over.
#: Well above any request's run time (outbound calls time out far sooner).
STALE_AFTER = timedelta(seconds=60)


def tenant_scope_hash(organization_id: str, environment: str) -> str:
    """The `scope_hash` column: keys are per tenant, not per API key (survives key rotation)."""
    return sha256_hex(f"{organization_id}:{environment}")


def request_fingerprint(method: str, path: str, query: bytes, version: str, body: bytes) -> str:
    """SHA-256 over everything that shapes the answer: method, path, query, API version, body."""
    return hashlib.sha256(
        b"\n".join([method.encode(), path.encode(), query, version.encode(), body])
    ).hexdigest()


def seal_body(cipher: TokenCipher, body: bytes) -> bytes:
    """The Fernet token (as bytes) for a response body; base64 first since the cipher takes text."""
    return cipher.encrypt(base64.b64encode(body).decode("ascii")).encode("ascii")


def open_body(cipher: TokenCipher, sealed: bytes) -> bytes:
    """Inverse of `seal_body`; raises `DecryptionError` if no configured secret opens it."""
    return base64.b64decode(cipher.decrypt(sealed.decode("ascii")))


@dataclass(frozen=True)
class _Refusal:
    status: int
    code: str
    message: str


_IN_USE = _Refusal(
    409, "idempotency_key_in_use", "A request with this Idempotency-Key is still in progress; retry shortly."
)
_REUSED = _Refusal(
    409, "idempotency_key_reused", "This Idempotency-Key was already used with a different request."
)


class IdempotencyMiddleware:
    """ASGI middleware applying Stripe-style idempotency to authenticated API POSTs."""

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
            await self.app(scope, receive, send)  # no key, or the route's own 401 missing_api_key
            return
        ctx = self.ctx_getter()
        request_id = str(scope.get("state", {}).get("request_id", ""))
        if not 1 <= len(key) <= 255:
            await _send_json(send, 400, error_body(
                type_="invalid_request_error", code="invalid_data",
                message="Idempotency-Key must be 1 to 255 characters.", param="Idempotency-Key",
                public_url=ctx.settings.public_url, request_id=request_id,
            ))
            return
        try:
            api_key = await resolve_api_key(ctx, authorization)
        except APIError as error:
            # Before any claim or replay: a revoked or expired key learns nothing, writes nothing.
            response = render(error, public_url=ctx.settings.public_url, request_id=request_id)
            await response(scope, receive, send)
            return
        try:
            version = resolve_version(headers.get("version"), api_key.api_version)
        except APIError:
            await self.app(scope, receive, send)  # the route answers the same 400; nothing to store
            return
        body = await _read_body(receive)
        scope_hash = tenant_scope_hash(api_key.organization_id, api_key.environment)
        request_hash = request_fingerprint(
            scope["method"], scope["path"], scope.get("query_string", b""), version, body
        )

        outcome = await self._begin(ctx, scope_hash, key, request_hash)
        if isinstance(outcome, IdempotencyRecord):
            await _replay(send, outcome, open_body(ctx.cipher, outcome.response_body or b""))
            return
        if isinstance(outcome, _Refusal):
            await _send_json(send, outcome.status, error_body(
                type_="conflict_error", code=outcome.code, message=outcome.message, param="Idempotency-Key",
                public_url=ctx.settings.public_url, request_id=request_id,
            ))
            return
        claimed_at = outcome

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
            await self._forget(ctx, scope_hash, key, claimed_at)
            raise
        start = next(m for m in captured if m["type"] == "http.response.start")
        payload = b"".join(m.get("body", b"") for m in captured if m["type"] == "http.response.body")
        status = int(start["status"])
        if status in _NOT_STORED or status >= 500:
            await self._forget(ctx, scope_hash, key, claimed_at)
        else:
            kept = {
                k.decode("latin-1"): v.decode("latin-1")
                for k, v in start.get("headers", [])
                if k.decode("latin-1").lower() in _REPLAYED_HEADERS
            }
            await self._store(ctx, scope_hash, key, claimed_at, status, kept, payload)
        for captured_message in captured:
            await send(captured_message)

    async def _begin(
        self, ctx: AppContext, scope_hash: str, key: str, request_hash: str
    ) -> datetime | _Refusal | IdempotencyRecord:
        """Claim the key (-> the claim's `created_at`), refuse, or return the stored response."""
        now = utcnow()
        expires_at = now + timedelta(seconds=ctx.settings.idempotency_ttl_seconds)
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
                            created_at=now, expires_at=expires_at,
                        ))
                        return now
                    if existing.request_hash != request_hash:
                        return _REUSED
                    if existing.status == "done":
                        return existing
                    if existing.created_at > now - STALE_AFTER:
                        return _IN_USE
                    # Abandoned by a dead process. Compare-and-set on the claim we read, so of
                    # several concurrent retries exactly one takes it over.
                    result = await session.execute(
                        update(IdempotencyRecord)
                        .where(
                            IdempotencyRecord.id == existing.id,
                            IdempotencyRecord.status == "in_progress",
                            IdempotencyRecord.created_at == existing.created_at,
                        )
                        .values(created_at=now, expires_at=expires_at)
                        .execution_options(synchronize_session=False)
                    )
                    return now if cast(CursorResult[Any], result).rowcount == 1 else _IN_USE
            except IntegrityError:
                continue  # a concurrent request claimed the key first: read its row
        return _IN_USE

    async def _store(
        self, ctx: AppContext, scope_hash: str, key: str, claimed_at: datetime,
        status: int, headers: dict[str, str], body: bytes,
    ) -> None:
        # Only our own claim: if it was taken over as stale, the new owner's row is left alone.
        async with ctx.db.session() as session:
            await session.execute(
                update(IdempotencyRecord)
                .where(*_own_claim(scope_hash, key, claimed_at))
                .values(
                    status="done", response_status=status, response_headers=headers,
                    response_body=seal_body(ctx.cipher, body),
                )
                .execution_options(synchronize_session=False)
            )

    async def _forget(self, ctx: AppContext, scope_hash: str, key: str, claimed_at: datetime) -> None:
        async with ctx.db.session() as session:
            await session.execute(
                delete(IdempotencyRecord)
                .where(*_own_claim(scope_hash, key, claimed_at))
                .execution_options(synchronize_session=False)
            )


def _own_claim(scope_hash: str, key: str, claimed_at: datetime) -> tuple[Any, ...]:
    return (
        IdempotencyRecord.scope_hash == scope_hash,
        IdempotencyRecord.key == key,
        IdempotencyRecord.status == "in_progress",
        IdempotencyRecord.created_at == claimed_at,
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


async def _replay(send: Send, record: IdempotencyRecord, body: bytes) -> None:
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
