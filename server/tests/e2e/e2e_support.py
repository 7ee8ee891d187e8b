"""Platform handle and browser steps shared by e2e suites (the hosted flow, the example app)."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from ehrconnect.api.context import AppContext
from ehrconnect.config import Settings
from ehrconnect.kit.db import Database
from ehrconnect.kit.time import utcnow
from ehrconnect.models import ConnectSession
from sqlalchemy import update

CHROMIUM = os.environ.get("EHRCONNECT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
E2E_SECRET = "e2e-secret-key-0123456789abcdef0123456789abcdef"


@dataclass
class Platform:
    url: str
    api_key: str
    settings: Settings
    ctx: AppContext
    api: httpx.Client

    def create_session(self, **body: Any) -> dict[str, Any]:
        """POST /sessions and return the JSON (asserting 200)."""
        response = self.api.post("/sessions", json=body)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    def get_session(self, session_id: str) -> dict[str, Any]:
        response = self.api.get(f"/sessions/{session_id}")
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    def sources(self, q: str = "Sandbox Health") -> dict[str, str]:
        """Catalog name -> ``fhirsrc_`` id for the sandbox sources."""
        response = self.api.get("/connections", params={"q": q, "limit": 100})
        assert response.status_code == 200, response.text
        return {item["name"]: item["id"] for item in response.json()["data"]}


def sandbox_patient() -> Any:
    from ehrconnect.sandbox_ehr.data import test_patients

    return test_patients()[0]


def sandbox_login(page: Any, patient: Any | None = None) -> None:
    """On the sandbox login page: sign in, land on the consent page."""
    who = patient or sandbox_patient()
    page.fill("#username", who.username)
    page.fill("#password", who.password)
    page.click("button[type=submit]")
    page.wait_for_selector("button[name=decision][value=allow]")


SHOTS = os.environ.get("EHRCONNECT_E2E_SHOTS")  # a directory: save screenshots of the pages


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def record_callbacks(page: Any) -> list[str]:
    """Collect every /oauth/callback URL the browser requests."""
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url) if "/oauth/callback" in r.url else None)
    return seen


def approve(page: Any, decision: str = "allow") -> None:
    """From the sandbox login page: sign in and answer the consent page."""
    sandbox_login(page)
    page.click(f"button[name=decision][value={decision}]")


def pick(page: Any, source_id: str) -> None:
    page.click(f"a[href$='/connect/{source_id}']")


def in_thread(fn: Any) -> Any:
    """Run ``fn()`` in a worker thread (code that calls ``asyncio.run`` itself, e.g. migrations)."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn).result()


def run_async(factory: Any) -> Any:
    """Run ``factory()``'s coroutine on a fresh loop in a worker thread (Playwright's sync API
    keeps an event loop running in the test thread)."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


def expire_session(platform: Platform, session_id: str) -> None:
    """Move a session's expiry into the past (as if its time ran out)."""

    async def run() -> None:
        db = Database(platform.settings.resolved_database_url)
        try:
            async with db.session() as session:
                await session.execute(
                    update(ConnectSession)
                    .where(ConnectSession.id == session_id)
                    .values(expires_at=utcnow() - timedelta(seconds=1))
                )
        finally:
            await db.dispose()

    run_async(run)


def shot(page: Any, name: str) -> None:
    """Save a full-page screenshot when EHRCONNECT_E2E_SHOTS names a directory."""
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


def db_rows(platform: Platform, model: Any, **filters: Any) -> list[Any]:
    """Rows of ``model`` matching equality ``filters``, read with a private engine."""
    from sqlalchemy import select

    async def run() -> list[Any]:
        db = Database(platform.settings.resolved_database_url)
        try:
            async with db.session() as session:
                query = select(model)
                for key, value in filters.items():
                    query = query.where(getattr(model, key) == value)
                return list((await session.execute(query)).scalars())
        finally:
            await db.dispose()

    result: list[Any] = run_async(run)
    return result


def add_source(platform: Platform, name: str, fhir_base_url: str, source_type: str = "sandbox") -> str:
    """Insert a catalog source (e.g. one whose server is down) into the sandbox environment."""
    from ehrconnect.kit.ids import new_id
    from ehrconnect.models import FhirSource

    source_id = new_id("fhir_source")

    async def run() -> None:
        db = Database(platform.settings.resolved_database_url)
        try:
            async with db.session() as session:
                session.add(
                    FhirSource(
                        id=source_id, environment="sandbox", normalized_base_url=fhir_base_url.lower(),
                        fhir_base_url=fhir_base_url, name=name, type=source_type, aliases=[], locations=[],
                        npis=[], search_text=name.lower(), provenance={},
                    )
                )
        finally:
            await db.dispose()

    run_async(run)
    return source_id


def intercept_callback(page: Any, rewrite: Any) -> list[str]:
    """Catch the EHR's redirect to our callback (the consent POST's 303) and replace it.

    Chromium does not route redirect hops, so the POST itself is fetched without following
    redirects. ``rewrite(callback_url)`` returns the URL to send the browser to instead, or None
    to stop there (the browser shows a blank page). Returns the captured callback URLs.
    """
    captured: list[str] = []

    def handle(route: Any) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        response = route.fetch(max_redirects=0)
        location = response.headers.get("location", "")
        if "/oauth/callback" not in location:
            route.fulfill(response=response)
            return
        captured.append(location)
        target = rewrite(location)
        if target is None:
            route.fulfill(status=200, content_type="text/html", body="<!doctype html><title>held</title>")
        else:
            route.fulfill(status=303, headers={"Location": target})

    page.route(lambda url: "/oauth/consent" in url, handle)
    return captured
