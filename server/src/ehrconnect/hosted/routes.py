"""The page behind a session's `url` (until the full hosted flow lands: the session's status)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from ehrconnect.api.context import get_context
from ehrconnect.api.handlers import friendly_page
from ehrconnect.kit.crypto import sha256_hex
from ehrconnect.models import ConnectSession
from ehrconnect.sessions.service import expire_if_due

router = APIRouter(include_in_schema=False)


@router.get("/c/{token}")
async def session_page(request: Request, token: str) -> HTMLResponse:
    ctx = get_context(request)
    async with ctx.db.session() as session:
        row = (
            await session.execute(select(ConnectSession).where(ConnectSession.url_token_hash == sha256_hex(token)))
        ).scalar_one_or_none()
        if row is None:
            return friendly_page(request, 404, "Link not found", "This connection link is not valid.")
        expire_if_due(row)
        status = row.status
    if status == "expired":
        return friendly_page(request, 410, "This link has expired", "Ask the app that sent you for a new link.")
    if status == "complete":
        return friendly_page(request, 200, "All done", "You have already finished connecting your records.")
    return friendly_page(request, 200, "Connect your health records", "This session is open.")
