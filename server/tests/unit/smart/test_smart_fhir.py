"""FhirSession: the origin guard, paging, and status mapping."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from ehrconnect.smart import (
    BaseUrlGuard,
    FhirError,
    FhirSession,
    Forbidden,
    InvalidFhirResponse,
    OriginViolation,
    RateLimited,
    ResourceNotFound,
    SourceUnavailable,
    Unauthorized,
    create_http_client,
    resolve_next_link,
)
from pydantic import SecretStr
from smart_testkit import BASE, FakeClock, MockServer, json_response

TOKEN_VALUE = "at-SECRET-fhir-token"


def bundle(next_url: str | None, *ids: str) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": {"resourceType": "Observation", "id": i}} for i in ids],
        "link": [{"relation": "self", "url": "ignored"}],
    }
    if next_url is not None:
        doc["link"].append({"relation": "next", "url": next_url})
    return doc


def session(http: httpx.AsyncClient, **kw: Any) -> FhirSession:
    return FhirSession(http, BASE + "/", kw.pop("token", TOKEN_VALUE), **kw)


def bearer_requests(server: MockServer) -> list[httpx.Request]:
    return [r for r in server.requests if "authorization" in r.headers]


# --- the guard ---


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/fhir/Patient",  # different host
        "https://ehr.example.com.evil.net/fhir/Patient",  # suffix trick
        "https://ehr.example.com:8443/fhir/Patient",  # different port
        "http://ehr.example.com/fhir/Patient",  # different scheme
        "https://ehr.example.com/fhir-evil/Patient",  # prefix without a segment boundary
        "https://ehr.example.com/other/Patient",  # outside the path prefix
        "https://ehr.example.com/",  # the origin root
        "https://ehr.example.com/fhir/../admin",  # dot segments (normalised by httpx to /admin)
        "https://ehr.example.com/fhir/%2e%2e/admin",  # encoded dot segments
        "https://ehr.example.com/fhir/%2E%2e%2Fadmin",  # encoded separator
        "https://ehr.example.com/fhir/..%5cadmin",  # encoded backslash
        "https://ehr.example.com@evil.example.com/fhir/Patient",  # userinfo trick
        "https://user:pw@ehr.example.com/fhir/Patient",  # credentials
        "//evil.example.com/fhir/Patient",  # scheme-relative
        "javascript:alert(1)",
    ],
)
def test_guard_rejects(url: str) -> None:
    guard = BaseUrlGuard(BASE)
    assert not guard.contains(url)
    with pytest.raises(OriginViolation) as info:
        guard.check(url)
    assert "pw" not in info.value.url


@pytest.mark.parametrize(
    "url",
    [
        "https://ehr.example.com/fhir",
        "https://ehr.example.com/fhir/",
        "https://ehr.example.com/fhir/Patient?_count=10",
        "https://EHR.example.com:443/fhir/Patient/1",
        "https://ehr.example.com/fhir/Patient/../Observation",  # stays inside after normalisation
    ],
)
def test_guard_accepts(url: str) -> None:
    assert BaseUrlGuard(BASE + "/").contains(url)


def test_guard_with_root_base_and_explicit_port() -> None:
    guard = BaseUrlGuard("http://127.0.0.1:8080")
    assert guard.contains("http://127.0.0.1:8080/Patient")
    assert not guard.contains("http://127.0.0.1:8081/Patient")
    assert not guard.contains("http://localhost:8080/Patient")


async def test_get_to_foreign_url_is_never_sent(server: MockServer, http: httpx.AsyncClient) -> None:
    fhir = session(http)
    for url in ("https://evil.example.com/fhir/Patient", "https://ehr.example.com/fhir-evil/Patient"):
        with pytest.raises(OriginViolation):
            await fhir.get(url)
    assert server.requests == []


async def test_next_link_outside_prefix_raises_before_sending(server: MockServer, http: httpx.AsyncClient) -> None:
    server.json("GET", BASE + "/Observation", bundle("https://ehr.example.com/fhir-evil/Observation?page=2", "o1"))
    pages = []
    with pytest.raises(OriginViolation):
        async for page in session(http).search_pages("Observation", {"patient": "p1"}):
            pages.append(page)
    assert len(pages) == 0  # the guard runs before the page is handed out
    assert len(server.requests) == 1


async def test_redirect_outside_base_is_not_followed(server: MockServer, http: httpx.AsyncClient) -> None:
    server.route(
        "GET", BASE + "/Patient/p1", httpx.Response(302, headers={"location": "https://evil.example.com/steal"})
    )
    with pytest.raises(OriginViolation):
        await session(http).get("Patient/p1")
    assert len(server.requests) == 1


async def test_redirect_inside_base_is_followed(server: MockServer, http: httpx.AsyncClient) -> None:
    server.route("GET", BASE + "/Patient/p1", httpx.Response(301, headers={"location": "/fhir/Patient/p2"}))
    server.json("GET", BASE + "/Patient/p2", {"resourceType": "Patient", "id": "p2"})
    doc = await session(http).get("Patient/p1")
    assert doc["id"] == "p2"
    assert all(r.headers["authorization"] == f"Bearer {TOKEN_VALUE}" for r in server.requests)


# --- requests and paging ---


async def test_read_sends_bearer_and_accept(server: MockServer, http: httpx.AsyncClient) -> None:
    server.json("GET", BASE + "/Patient/p1", {"resourceType": "Patient", "id": "p1"})
    doc = await session(http, token=SecretStr(TOKEN_VALUE)).read("Patient", "p1")
    assert doc["id"] == "p1"
    req = server.requests[0]
    assert req.headers["authorization"] == f"Bearer {TOKEN_VALUE}"
    assert req.headers["accept"].startswith("application/fhir+json")
    with pytest.raises(ValueError):
        await session(http).read("Patient", "../x")
    with pytest.raises(ValueError):
        await session(http).read("patient", "p1")


async def test_read_wrong_type(server: MockServer, http: httpx.AsyncClient) -> None:
    server.json("GET", BASE + "/Patient/p1", {"resourceType": "OperationOutcome"})
    with pytest.raises(InvalidFhirResponse):
        await session(http).read("Patient", "p1")


async def test_get_merges_params_into_existing_query(server: MockServer, http: httpx.AsyncClient) -> None:
    server.json("GET", BASE + "/Observation", bundle(None))
    await session(http).get(BASE + "/Observation?category=laboratory", {"patient": "p1", "_count": 50})
    assert dict(server.requests[0].url.params) == {"category": "laboratory", "patient": "p1", "_count": "50"}


async def test_search_pages_follows_next_links(server: MockServer, http: httpx.AsyncClient) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        page = request.url.params.get("page", "1")
        if page == "1":
            assert request.url.params["patient"] == "p1"
            return json_response(200, bundle(BASE + "/Observation?page=2&patient=p1", "o1", "o2"))
        if page == "2":
            return json_response(200, bundle("Observation?page=3", "o3"))  # relative next link
        return json_response(200, bundle(None, "o4"))

    server.route("GET", BASE + "/Observation", handler)
    ids = []
    async for page in session(http).search_pages("Observation", {"patient": "p1"}):
        ids.append([e["resource"]["id"] for e in page["entry"]])
    assert ids == [["o1", "o2"], ["o3"], ["o4"]]
    assert len(bearer_requests(server)) == 3


async def test_search_pages_is_lazy_and_max_pages(server: MockServer, http: httpx.AsyncClient) -> None:
    server.route(
        "GET",
        BASE + "/Observation",
        lambda r: json_response(200, bundle(BASE + f"/Observation?p={len(server.requests)}")),
    )
    pages = session(http).search_pages("Observation")
    first = await anext(pages)
    assert first["resourceType"] == "Bundle"
    assert len(server.requests) == 1  # nothing fetched ahead
    await pages.aclose()
    count = 0
    async for _ in session(http).search_pages("Observation", max_pages=3):
        count += 1
    assert count == 3


async def test_pagination_loop_detected(server: MockServer, http: httpx.AsyncClient) -> None:
    server.json("GET", BASE + "/Observation", bundle(BASE + "/Observation?page=1"))
    with pytest.raises(InvalidFhirResponse, match="loop"):
        async for _ in session(http).search_pages("Observation", {"page": "1"}):
            pass


async def test_search_non_bundle(server: MockServer, http: httpx.AsyncClient) -> None:
    server.json("GET", BASE + "/Observation", {"resourceType": "Observation"})
    with pytest.raises(InvalidFhirResponse):
        async for _ in session(http).search_pages("Observation"):
            pass


async def test_everything_pages(server: MockServer, http: httpx.AsyncClient) -> None:
    server.json("GET", BASE + "/Patient/p1/$everything", bundle(None, "x"))
    pages = [p async for p in session(http).everything_pages("p1", {"_since": "2026-01-01"})]
    assert len(pages) == 1
    assert server.requests[0].url.params["_since"] == "2026-01-01"
    with pytest.raises(ValueError):
        async for _ in session(http).everything_pages("p1/../../x"):
            pass


async def test_token_provider_called_per_request(server: MockServer, http: httpx.AsyncClient) -> None:
    server.route(
        "GET",
        BASE + "/Observation",
        lambda r: json_response(200, bundle(None if r.url.params.get("p") else BASE + "/Observation?p=2")),
    )
    issued = iter(["tok-1", "tok-2"])

    async def provider() -> str:
        return next(issued)

    _ = [p async for p in session(http, token=provider).search_pages("Observation")]
    assert [r.headers["authorization"] for r in server.requests] == ["Bearer tok-1", "Bearer tok-2"]


# --- status mapping ---


async def test_401_raises_unauthorized_with_resume_url(server: MockServer, http: httpx.AsyncClient) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("page") == "2":
            return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return json_response(200, bundle(BASE + "/Observation?page=2", "o1"))

    server.route("GET", BASE + "/Observation", handler)
    fhir = session(http)
    with pytest.raises(Unauthorized) as info:
        async for _ in fhir.search_pages("Observation"):
            pass
    err = info.value
    assert err.status_code == 401
    assert err.url == BASE + "/Observation?page=2"
    assert TOKEN_VALUE not in str(err) + repr(err)

    # After a refresh the caller resumes where it stopped.
    server.route("GET", BASE + "/Observation", lambda r: json_response(200, bundle(None, "o2")))
    assert err.url is not None
    resumed = [p async for p in fhir.follow_pages(err.url)]
    assert resumed[0]["entry"][0]["resource"]["id"] == "o2"


async def test_on_unauthorized_hook_refreshes_and_retries_once(server: MockServer, http: httpx.AsyncClient) -> None:
    current = {"token": "old"}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers["authorization"] == "Bearer new":
            return json_response(200, {"resourceType": "Patient", "id": "p1"})
        return httpx.Response(401)

    async def provider() -> str:
        return current["token"]

    async def refresh() -> None:
        current["token"] = "new"

    server.route("GET", BASE + "/Patient/p1", handler)
    doc = await session(http, token=provider, on_unauthorized=refresh).get("Patient/p1")
    assert doc["id"] == "p1"
    assert [r.headers["authorization"] for r in server.requests] == ["Bearer old", "Bearer new"]

    async def no_op() -> None:
        return None

    server.requests.clear()
    current["token"] = "old"
    with pytest.raises(Unauthorized):
        await session(http, token=provider, on_unauthorized=no_op).get("Patient/p1")
    assert len(server.requests) == 2  # one retry, then give up


@pytest.mark.parametrize(("retry_after", "expected"), [("12", 12.0), (None, None), ("garbage", None)])
async def test_429_rate_limited(
    server: MockServer, http: httpx.AsyncClient, clock: FakeClock, retry_after: str | None, expected: float | None
) -> None:
    headers = {"Retry-After": retry_after} if retry_after else {}
    server.route("GET", BASE + "/Patient/p1", httpx.Response(429, headers=headers))
    with pytest.raises(RateLimited) as info:
        await session(http, clock=clock).get("Patient/p1")
    assert info.value.retry_after == expected
    assert isinstance(info.value, SourceUnavailable)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_source_unavailable(server: MockServer, http: httpx.AsyncClient, status: int) -> None:
    server.route("GET", BASE + "/Patient/p1", httpx.Response(status))
    with pytest.raises(SourceUnavailable) as info:
        await session(http).get("Patient/p1")
    assert info.value.status_code == status
    assert not isinstance(info.value, RateLimited)


async def test_network_error_source_unavailable() -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(boom)) as client:
        with pytest.raises(SourceUnavailable):
            await session(client).get("Patient/p1")


@pytest.mark.parametrize(
    ("status", "exc"), [(403, Forbidden), (404, ResourceNotFound), (410, ResourceNotFound), (400, FhirError)]
)
async def test_client_errors(server: MockServer, http: httpx.AsyncClient, status: int, exc: type[FhirError]) -> None:
    outcome = {"resourceType": "OperationOutcome", "issue": [{"code": "forbidden", "diagnostics": "John Doe DOB 1970"}]}
    server.json("GET", BASE + "/Patient/p1", outcome, status=status)
    with pytest.raises(exc) as info:
        await session(http).get("Patient/p1")
    assert info.value.status_code == status
    assert info.value.issue_codes == ("forbidden",)
    assert "John Doe" not in str(info.value)


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html>maintenance</html>", headers={"content-type": "text/html"}),
        httpx.Response(200, content=b"\xff\xfe"),
        httpx.Response(200, json=[1, 2]),
    ],
    ids=["html", "binary", "array"],
)
async def test_non_json_success(server: MockServer, http: httpx.AsyncClient, response: httpx.Response) -> None:
    server.route("GET", BASE + "/Patient/p1", response)
    with pytest.raises(InvalidFhirResponse):
        await session(http).get("Patient/p1")


async def test_oversized_page_is_refused(server: MockServer, http: httpx.AsyncClient) -> None:
    server.json("GET", BASE + "/Observation", bundle(None, *[f"o{i}" for i in range(200)]))
    with pytest.raises(InvalidFhirResponse, match="larger"):
        await session(http, max_page_bytes=1000).get("Observation")


def test_session_repr_has_no_token(http: httpx.AsyncClient) -> None:
    fhir = session(http)
    assert TOKEN_VALUE not in repr(fhir)
    assert fhir.base_url == BASE


async def test_shared_client_never_carries_cookies_between_connections(server: MockServer) -> None:
    server.route(
        "GET",
        BASE + "/Patient/p1",
        httpx.Response(
            200,
            json={"resourceType": "Patient", "id": "p1"},
            headers={"set-cookie": "EHRSESSION=patient-one; Path=/; Secure"},
        ),
    )
    client = create_http_client(transport=httpx.MockTransport(server.handle))
    async with client:
        await FhirSession(client, BASE, "token-one").get("Patient/p1")
        await FhirSession(client, BASE, "token-two").get("Patient/p1")
        assert len(client.cookies) == 0
    assert all("cookie" not in r.headers for r in server.requests)
    assert server.requests[1].headers["authorization"] == "Bearer token-two"


async def test_stored_cookies_of_an_ordinary_client_are_not_replayed(server: MockServer) -> None:
    server.json("GET", BASE + "/Patient/p1", {"resourceType": "Patient", "id": "p1"})
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(server.handle), cookies={"EHRSESSION": "someone-else"}
    ) as client:
        await FhirSession(client, BASE, "tok").get("Patient/p1")
    assert "cookie" not in server.requests[0].headers


def test_guard_ipv6_and_violation_reports_no_query() -> None:
    guard = BaseUrlGuard("http://[::1]:8080/fhir")
    assert guard.contains("http://[::1]:8080/fhir/Patient")
    with pytest.raises(OriginViolation) as info:
        guard.check("http://[::2]:8080/fhir/Patient?patient=secret-id")
    assert info.value.url == "http://[::2]:8080/fhir/Patient"
    assert "secret-id" not in str(info.value)


def test_resolve_next_link_is_relative_to_the_page_and_guarded() -> None:
    guard = BaseUrlGuard(BASE)
    page = f"{BASE}/Observation?patient=1"
    assert resolve_next_link(bundle(f"{BASE}/Observation?page=2"), page, guard) == httpx.URL(
        f"{BASE}/Observation?page=2"
    )
    assert str(resolve_next_link(bundle("Observation?page=3"), httpx.URL(page), guard)) == f"{BASE}/Observation?page=3"
    assert resolve_next_link(bundle(None), page, guard) is None
    assert resolve_next_link({"resourceType": "Bundle", "link": "next"}, page, guard) is None
    with pytest.raises(OriginViolation):
        resolve_next_link(bundle("https://evil.example.net/fhir/Observation?page=2"), page, guard)


@pytest.mark.parametrize("href", [None, "", 42, "http://[::1"])
def test_resolve_next_link_without_a_usable_url(href: Any) -> None:
    doc = {"resourceType": "Bundle", "link": [{"relation": "next", "url": href}]}
    with pytest.raises(InvalidFhirResponse, match="next link") as info:
        resolve_next_link(doc, f"{BASE}/Observation?patient=secret-query", BaseUrlGuard(BASE))
    assert info.value.url == f"{BASE}/Observation"  # no query: it may carry search parameters
