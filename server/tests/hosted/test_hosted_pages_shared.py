"""One definition of the CSP (api.security.DEFAULT_CSP, hosted pages only widen form-action) and
one attempts query per picker page."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from ehrconnect.hosted import pages
from ehrconnect.hosted.pages import BROWSER_COOKIE
from fastapi import FastAPI
from hosted_mock_ehr import MockEhr
from sqlalchemy import event


def test_hosted_csp_is_the_default_with_form_action_widened(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pages, "DEFAULT_CSP", "default-src 'none'; form-action 'self'; upgrade-insecure-requests")
    assert pages.csp() == "default-src 'none'; form-action 'self'; upgrade-insecure-requests"
    assert pages.csp(("https://app.example",)) == (
        "default-src 'none'; form-action 'self' https://app.example; upgrade-insecure-requests"
    )


async def test_picker_page_queries_attempts_once(app: FastAPI, api: httpx.AsyncClient, mock_ehr: MockEhr) -> None:
    response = await api.post("/sessions", json={"patient_id": "pat-q", "return_url": "https://app.example/b"})
    url = urlsplit(response.json()["url"]).path
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = app.state.ctx.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        page = await api.get(url)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert page.status_code == 200 and "Connect your health records" in page.text
    assert BROWSER_COOKIE in page.headers.get("set-cookie", "")
    attempts = [s for s in statements if "FROM connections" in s]
    assert len(attempts) == 1, attempts
