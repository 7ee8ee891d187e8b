"""Every Python block in docs/integrate.md, run against a real ehrconnect platform.

Each block starts with ``# <module>.py``. The blocks are written to a temporary directory and
imported as those modules (so the framework snippets import ``connect_outcome`` and
``ehr_errors`` exactly as the guide says), then each framework's routes are driven through its
own test client while a form-following walker plays the patient at the hosted pages and the
sandbox EHR portal. A block without an exercise here, or an exercise without a block, fails.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from types import ModuleType, SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from ehrconnect_client import (
    AuthenticationError,
    Client,
    EhrconnectError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    Session,
)
from trialmatched_stack import REPO, Platform, server_support
from trialmatched_testkit import PortalWalker

pytestmark = pytest.mark.timeout(240)

DOC = REPO / "docs" / "integrate.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
NAME = re.compile(r"\A# (\w+)\.py\n")
RETURN_URL = "https://app.example.com/connect/return"
FRAMEWORK_MODULES = ("fastapi_app", "django_views", "flask_app")


def doc_blocks() -> list[tuple[str, str]]:
    return [(lang, body) for lang, body in FENCE.findall(DOC.read_text())]


def python_snippets() -> dict[str, str]:
    snippets: dict[str, str] = {}
    for lang, body in doc_blocks():
        if lang == "python":
            match = NAME.match(body)
            assert match, f"python block must start with '# <module>.py':\n{body[:80]}"
            assert match.group(1) not in snippets, f"duplicate block {match.group(1)}"
            snippets[match.group(1)] = body
    return snippets


EXERCISED = {"connect_outcome", "ehr_errors", "fastapi_app", "django_views", "flask_app", "ehr_records"}


def test_every_block_is_python_or_a_diagram_and_every_snippet_is_exercised() -> None:
    langs = {lang for lang, _ in doc_blocks()}
    assert langs <= {"python", "text"}, langs
    assert set(python_snippets()) == EXERCISED


def sandbox_login() -> tuple[str, str]:
    from ehrconnect.sandbox_ehr.data import test_patients as sandbox_patients

    patient = min((p for p in sandbox_patients() if p.resource_count > 0), key=lambda p: p.resource_count)
    return patient.username, patient.password


@pytest.fixture(scope="module")
def guide(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ModuleType]]:
    """The snippets imported as modules, with the key and URL in the environment as documented."""
    folder = tmp_path_factory.mktemp("integrate_snippets")
    for name, code in python_snippets().items():
        (folder / f"{name}.py").write_text(code)
    saved = {k: os.environ.get(k) for k in ("EHRCONNECT_API_KEY", "EHRCONNECT_API_URL", "FLASK_SECRET_KEY")}
    os.environ.update(
        EHRCONNECT_API_KEY=platform.api_key, EHRCONNECT_API_URL=platform.url,
        FLASK_SECRET_KEY="doc-test-flask-secret-0123456789",
    )
    sys.path.insert(0, str(folder))
    _configure_django()
    modules: dict[str, ModuleType] = {}
    try:
        for name in sorted(EXERCISED):
            modules[name] = importlib.import_module(name)
        yield modules
    finally:
        for name in ("django_views", "flask_app"):
            if name in modules:
                modules[name].ehr.close()
        for name in EXERCISED:
            sys.modules.pop(name, None)
        sys.path.remove(str(folder))
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _configure_django() -> None:
    settings = pytest.importorskip("django.conf").settings
    if not settings.configured:
        settings.configure(
            SECRET_KEY="doc-test-django-secret-0123456789", ROOT_URLCONF="django_views",
            ALLOWED_HOSTS=["testserver"], MIDDLEWARE=["django.middleware.csrf.CsrfViewMiddleware"],
            INSTALLED_APPS=[], USE_TZ=True,
        )
        pytest.importorskip("django").setup()


@pytest.fixture
def sdk(platform: Platform) -> Iterator[Client]:
    with Client(api_key=platform.api_key, base_url=platform.url) as client:
        yield client


@pytest.fixture
def walker(platform: Platform) -> Iterator[PortalWalker]:
    walker = PortalWalker(platform.url)
    yield walker
    walker.close()


def sandbox_source(sdk: Client, name: str = "Sandbox Health") -> str:
    return next(s.id for s in sdk.connections.iter_all(limit=100) if s.name == name)


def app_path(url: str) -> str:
    """``/connect/return?...`` of the URL the platform sent the patient back to."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == RETURN_URL, url
    return f"{parts.path}?{parts.query}"


# ------------------------------------------------------------------- framework drivers
# Each returns a callable: request(method, path, data=None) -> (status, body, location).

Request = Callable[..., tuple[int, str, str | None]]


def fastapi_driver(modules: dict[str, ModuleType], patient_id: str) -> Iterator[Request]:
    """The FastAPI snippet under a real uvicorn server (its lifespan opens the SDK client)."""
    app = modules["fastapi_app"].app
    app.dependency_overrides[modules["fastapi_app"].current_patient_id] = lambda: patient_id
    with server_support().LiveServer(app) as server, httpx.Client(base_url=server.url) as client:

        def request(method: str, path: str, data: dict[str, str] | None = None) -> tuple[int, str, str | None]:
            response = client.request(method, path, data=data)
            return response.status_code, response.text, response.headers.get("location")

        yield request
    app.dependency_overrides.clear()


def django_driver(modules: dict[str, ModuleType], patient_pk: str) -> Iterator[Request]:
    views, factory = modules["django_views"], importlib.import_module("django.test").RequestFactory()
    routes = {"/connect": views.connect, "/connect/direct": views.connect_direct,
              "/facilities": views.facilities, "/connect/return": views.connect_return}

    def request(method: str, path: str, data: dict[str, str] | None = None) -> tuple[int, str, str | None]:
        route = path.split("?")[0]
        built = factory.post(path, data or {}) if method == "POST" else factory.get(path)
        built.user = SimpleNamespace(pk=patient_pk)  # what django.contrib.auth would set
        response = routes[route](built)
        return response.status_code, response.content.decode(), response.get("Location")

    yield request


def flask_driver(modules: dict[str, ModuleType], patient_id: str) -> Iterator[Request]:
    client = modules["flask_app"].app.test_client()
    with client.session_transaction() as session:
        session["patient_id"] = patient_id  # what the app's sign-in would store

    def request(method: str, path: str, data: dict[str, str] | None = None) -> tuple[int, str, str | None]:
        response = client.open(path, method=method, data=data)
        return response.status_code, response.get_data(as_text=True), response.headers.get("Location")

    yield request


DRIVERS = {"fastapi_app": fastapi_driver, "django_views": django_driver, "flask_app": flask_driver}
# What each snippet sends as patient_id for the driver's signed-in user.
# (Django's snippet derives it from the user's pk, which the driver sets to the same identity.)
PATIENT_ID = {"fastapi_app": "doc-{}", "django_views": "user-doc-{}", "flask_app": "doc-{}"}


@pytest.fixture(params=FRAMEWORK_MODULES)
def framework(request: pytest.FixtureRequest, guide: dict[str, ModuleType]) -> Iterator[tuple[Request, str]]:
    name: str = request.param
    user = f"{name}-{time.monotonic_ns()}"
    driver = DRIVERS[name](guide, f"doc-{user}")
    send = next(driver)
    yield send, PATIENT_ID[name].format(user)
    next(driver, None)


# ------------------------------------------------------------------------------ tests


def test_search_route(framework: tuple[Request, str], sdk: Client) -> None:
    send, _ = framework
    status, body, _ = send("GET", "/facilities?q=sandbox")
    assert status == 200 and "Sandbox Health" in body
    assert json.loads(send("GET", "/facilities?q=s")[1]) in ([], {"data": []})


def test_direct_mode_allow_then_deny(framework: tuple[Request, str], sdk: Client, walker: PortalWalker) -> None:
    send, patient_id = framework
    source = sandbox_source(sdk)
    username, password = sandbox_login()

    status, _, location = send("POST", "/connect/direct", {"connection_id": source})
    assert status == 303 and location and location.startswith(walker.platform + "/c/")
    back = walker.direct(location, "allow", username, password)
    status, body, _ = send("GET", app_path(back))
    assert status == 200 and 'data-state="success"' in body and "Connected — pulling records" in body
    assert sdk.patients.retrieve(patient_id).connections[0].status == "active"

    status, _, location = send("POST", "/connect/direct", {"connection_id": source})
    assert location
    back = walker.direct(location, "deny", username, password)
    assert "success=false" in back and "error=user_denied" in back
    status, body, _ = send("GET", app_path(back))
    assert status == 200 and 'data-state="cancelled"' in body


def test_picker_mode_and_leaving_without_connecting(
    framework: tuple[Request, str], sdk: Client, walker: PortalWalker
) -> None:
    send, patient_id = framework
    status, _, location = send("POST", "/connect")
    assert status == 303 and location
    session = next(s for s in sdk.patients.list_sessions(patient_id).data if location == s.url)
    assert session.connection_id is None  # picker mode
    back = walker.leave_picker(location)
    status, body, _ = send("GET", app_path(back))
    assert status == 200 and 'data-state="cancelled"' in body


def test_return_page_rejects_bad_links(framework: tuple[Request, str], sdk: Client) -> None:
    send, _ = framework
    assert send("GET", "/connect/return")[0] == 400
    assert send("GET", "/connect/return?session_id=sess_01JZZZZZZZZZZZZZZZZZZZZZZZ")[0] == 404
    other = sdk.sessions.create(patient_id="someone-else", return_url=RETURN_URL)
    assert send("GET", f"/connect/return?session_id={other.id}&success=true")[0] == 404


def test_errors_map_and_log_request_id(
    guide: dict[str, ModuleType], platform: Platform, sdk: Client, caplog: pytest.LogCaptureFixture
) -> None:
    errors = guide["ehr_errors"]
    wrong = Client(api_key="mb_sk_sbx_not_a_real_key", base_url=platform.url)
    with wrong, pytest.raises(AuthenticationError) as auth:
        wrong.sessions.retrieve("sess_01JZZZZZZZZZZZZZZZZZZZZZZZ")
    with pytest.raises(NotFoundError) as missing:
        sdk.sessions.retrieve("sess_01JZZZZZZZZZZZZZZZZZZZZZZZ")
    with pytest.raises(InvalidRequestError) as invalid:
        sdk.sessions.create(patient_id="p1", return_url="ftp://nope.example/")
    cases: list[tuple[EhrconnectError, int]] = [(auth.value, 503), (missing.value, 404), (invalid.value, 500)]
    throttled = RateLimitError("slow down", http_status=429, code="throttled", retry_after=120)
    cases.append((throttled, 503))
    for err, status in cases:
        assert errors.to_http(err)[0] == status
    with caplog.at_level(logging.WARNING, logger="myapp.ehr"):
        errors.log_failure(missing.value, "sessions.retrieve", user="u1")
    line = caplog.records[-1].getMessage()
    assert missing.value.request_id and f"request_id={missing.value.request_id}" in line
    assert "code=resource_not_found" in line and platform.api_key not in line


def test_outcome_states(guide: dict[str, ModuleType]) -> None:
    outcome_of = guide["connect_outcome"].outcome_of
    ts = "2026-04-25T14:30:00.000Z"

    def session(status: str, *attempts: tuple[str | None, str, str | None]) -> Session:
        return Session.model_validate({
            "id": "sess_1", "status": status, "url": "https://h/c/x", "patient_id": "p", "return_url": RETURN_URL,
            "expires_at": ts, "created_at": ts,
            "connections": [{"id": i, "connection_id": "fhirsrc_1", "status": st, "failure_code": code,
                             "created_at": ts} for i, st, code in attempts],
        })

    ok, denied = ("conn_1", "active", None), (None, "failed", "user_denied")
    broken = (None, "failed", "oauth_callback_failed")
    assert outcome_of(session("complete", ok)) == "success"
    assert outcome_of(session("complete", ok, broken)) == "partial"
    assert outcome_of(session("complete", broken)) == "failure"
    assert outcome_of(session("complete", denied)) == "cancelled"
    assert outcome_of(session("complete")) == "cancelled"
    assert outcome_of(session("open")) == "pending"


def test_records_summary(guide: dict[str, ModuleType], sdk: Client, walker: PortalWalker) -> None:
    patient_id = f"doc-records-{time.monotonic_ns()}"
    session = sdk.sessions.create(patient_id=patient_id, return_url=RETURN_URL, connection_id=sandbox_source(sdk))
    walker.direct(session.url, "allow", *sandbox_login())
    summary: dict[str, Any] = {}
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        summary = guide["ehr_records"].records_summary(sdk, patient_id)
        if summary["total"] and not summary["pulling"]:
            break
        time.sleep(1)
    assert summary["connected"] and summary["total"] > 0, summary
    assert sum(summary["by_type"].values()) == summary["total"] and "Patient" in summary["by_type"]


def test_key_only_in_the_environment(guide: dict[str, ModuleType], platform: Platform) -> None:
    for name, code in python_snippets().items():
        assert "mb_sk_" not in code, f"{name} hard-codes a key"
    assert isinstance(guide["flask_app"].ehr, Client) and guide["flask_app"].ehr.base_url.startswith(platform.url)
