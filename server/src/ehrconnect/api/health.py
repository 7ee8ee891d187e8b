"""GET /health: liveness, no authentication."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter

from ehrconnect.api.schemas import WireModel
from ehrconnect.kit.time import iso, utcnow

router = APIRouter(tags=["Health"])


class HealthOut(WireModel):
    ok: Literal[True] = True
    server_time: str


@router.get("/health", response_model=HealthOut, summary="Liveness probe (no authentication)")
async def health() -> HealthOut:
    return HealthOut(server_time=iso(utcnow()) or "")
