"""The hosted pages' CSP form-action carries the return URL's origin rebuilt from its parsed parts,
so even a return URL stored before validation was strict cannot inject CSP directives."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from ehrconnect.hosted.pages import csp, origin_of
from ehrconnect.models import ConnectSession
from fastapi import FastAPI
from hosted_mock_ehr import MockEhr
from sqlalchemy import update


def _path(url: str) -> str:
    return urlsplit(url).path


def _form_action(response: httpx.Response) -> str:
    policy = response.headers["content-security-policy"]
    return next(d.strip() for d in policy.split(";") if d.strip().startswith("form-action"))


async def _session(api: httpx.AsyncClient, return_url: str) -> dict[str, Any]:
    response = await api.post("/sessions", json={"patient_id": "pat-csp", "return_url": return_url})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_form_action_is_the_return_origin(api: httpx.AsyncClient, mock_ehr: MockEhr) -> None:
    sess = await _session(api, "https://App.Example:8443/back?x=1")
    response = await api.get(_path(sess["url"]))
    assert response.status_code == 200
    assert _form_action(response) == "form-action 'self' https://app.example:8443"


@pytest.mark.parametrize(
    "stored",
    ["https://a.example; report-uri https://evil.example/x;/cb", "https://evil.com\\@good.com/cb"],
)
async def test_legacy_return_url_cannot_inject(
    app: FastAPI, api: httpx.AsyncClient, mock_ehr: MockEhr, stored: str
) -> None:
    sess = await _session(api, "https://app.example/back")
    async with app.state.ctx.db.session() as session:
        await session.execute(update(ConnectSession).where(ConnectSession.id == sess["id"]).values(return_url=stored))
    response = await api.get(_path(sess["url"]))
    assert response.status_code == 200
    assert _form_action(response) == "form-action 'self'"
    assert "report-uri" not in response.headers["content-security-policy"]
    assert "good.com" not in response.headers["content-security-policy"]


def test_origin_of_and_csp_helpers() -> None:
    assert origin_of("http://[::1]:3000/cb") == "http://[::1]:3000"
    assert origin_of("https://a.example; report-uri x") is None
    assert origin_of("https://evil.com\\@good.com") is None
    assert "report-uri" not in csp(("https://a.example; report-uri https://evil.example",))
