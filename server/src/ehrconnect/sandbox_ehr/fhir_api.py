"""FHIR R4 read, search and ``Patient/$everything`` over the token's patient compartment.

Bearer tokens per RFC 6750 §2.1/§3: a missing, invalid or expired token answers 401 with a
``WWW-Authenticate`` challenge and an OperationOutcome; a token without a scope for the type
answers 403 (``insufficient_scope``). Tokens work only at the profile that issued them.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from .context import Sandbox, profile_of, sandbox_of
from .data import PatientRecord
from .dates import format_instant
from .discovery import FHIR_JSON
from .profiles import Profile
from .resources import SUPPORTED_TYPES
from .scopes import allows
from .search import SearchError, compile_criteria, page_bounds
from .state import Token

Resource = dict[str, Any]


def fhir_response(body: dict[str, Any], status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A FHIR JSON response."""
    return Response(
        json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        status_code=status_code,
        media_type=FHIR_JSON,
        headers=headers,
    )


def outcome(status_code: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """An OperationOutcome error response."""
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": message}],
    }
    return fhir_response(body, status_code, headers)


def _unauthorized(error: str | None, message: str) -> Response:
    challenge = 'Bearer realm="sandbox-ehr"'
    if error:
        challenge += f', error="{error}", error_description="{message}"'
    return outcome(401, "login", message, {"WWW-Authenticate": challenge})


class Access:
    """The caller's authorization: the token and its patient's compartment."""

    def __init__(self, token: Token, record: PatientRecord) -> None:
        self.token = token
        self.record = record

    def allows(self, resource_type: str, interaction: str) -> bool:
        """Whether the token's scopes allow an interaction on a type."""
        return allows(self.token.scopes, resource_type, interaction)


async def _prepare(request: Request) -> tuple[Sandbox, Profile, Access] | Response:
    """Fault injection, then bearer-token authentication (shared by every data call)."""
    sandbox = sandbox_of(request)
    profile = profile_of(request)
    if profile is None:
        return outcome(404, "not-found", "unknown FHIR endpoint")
    await sandbox.delay(profile)
    fault = sandbox.fhir_fault(profile)
    if fault is not None:
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
        code = "throttled" if fault.status == 429 else "transient"
        return outcome(fault.status, code, "simulated failure (flaky profile)", headers)
    header = request.headers.get("authorization", "")
    if header[:7].lower() != "bearer " or not header[7:].strip():
        return _unauthorized(None, "a Bearer access token is required")
    found = sandbox.state.token(header[7:].strip())
    if found is None or found.kind != "access" or not found.active or found.grant.profile != profile.key:
        return _unauthorized("invalid_token", "the access token is invalid, expired or revoked")
    dataset = await sandbox.dataset()
    record = dataset.patients.get(found.grant.patient_id)
    if record is None:
        return _unauthorized("invalid_token", "the token's patient no longer exists")
    return sandbox, profile, Access(found, record)


def _forbidden(rtype: str, interaction: str) -> Response:
    message = f"the access token has no scope to {interaction} {rtype}"
    challenge = f'Bearer realm="sandbox-ehr", error="insufficient_scope", error_description="{message}"'
    return outcome(403, "forbidden", message, {"WWW-Authenticate": challenge})


async def read(request: Request) -> Response:
    """``GET <profile>/fhir/{type}/{id}``."""
    prepared = await _prepare(request)
    if isinstance(prepared, Response):
        return prepared
    _, _, access = prepared
    rtype = request.path_params["rtype"]
    rid = request.path_params["rid"]
    if rtype not in SUPPORTED_TYPES:
        return outcome(404, "not-supported", f"resource type {rtype} is not supported")
    if not access.allows(rtype, "read"):
        return _forbidden(rtype, "read")
    if (rtype, rid) not in access.record.keys:
        # Outside the compartment looks the same as absent: existence is not disclosed.
        return outcome(404, "not-found", f"{rtype}/{rid} is not known")
    dataset = await sandbox_of(request).dataset()
    resource = dataset.resources[(rtype, rid)]
    meta = resource.get("meta", {})
    headers = {"ETag": f'W/"{meta.get("versionId", "1")}"'}
    if "lastUpdated" in meta:
        headers["Last-Modified"] = _http_date(meta["lastUpdated"])
    return fhir_response(resource, headers=headers)


def _http_date(instant: str) -> str:
    moment = datetime.fromisoformat(instant.replace("Z", "+00:00"))
    return moment.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


async def search(request: Request) -> Response:
    """``GET <profile>/fhir/{type}?...`` (type-level search in the token's compartment)."""
    prepared = await _prepare(request)
    if isinstance(prepared, Response):
        return prepared
    sandbox, profile, access = prepared
    rtype = request.path_params["rtype"]
    if rtype not in SUPPORTED_TYPES:
        return outcome(404, "not-supported", f"resource type {rtype} is not supported")
    if not access.allows(rtype, "search"):
        return _forbidden(rtype, "search")
    params = list(request.query_params.multi_items())
    strict = "handling=strict" in request.headers.get("prefer", "").replace(" ", "")
    try:
        criteria = compile_criteria(rtype, params, access.record.id, strict=strict)
        offset, count = page_bounds(dict(params), sandbox.settings.default_page_size, sandbox.settings.max_page_size)
    except SearchError as exc:
        return outcome(exc.status, exc.code, exc.message)
    matches = criteria.apply(access.record.by_type.get(rtype, []))
    base_url = f"{sandbox.fhir_base(request, profile)}/{rtype}"
    return fhir_response(_bundle(sandbox, request, profile, base_url, criteria.used, matches, offset, count))


async def everything(request: Request) -> Response:
    """``GET <profile>/fhir/Patient/{id}/$everything`` (paged with ``_count``/``_offset``)."""
    prepared = await _prepare(request)
    if isinstance(prepared, Response):
        return prepared
    sandbox, profile, access = prepared
    if request.path_params["rid"] != access.record.id:
        return outcome(404, "not-found", "Patient is not known")
    if not access.allows("Patient", "read"):
        return _forbidden("Patient", "read")
    params = list(request.query_params.multi_items())
    try:
        offset, count = page_bounds(dict(params), sandbox.settings.default_page_size, sandbox.settings.max_page_size)
    except SearchError as exc:
        return outcome(exc.status, exc.code, exc.message)
    # Only the types the token may read are included.
    resources = [r for r in access.record.everything() if access.allows(r["resourceType"], "read")]
    base_url = f"{sandbox.fhir_base(request, profile)}/Patient/{access.record.id}/$everything"
    return fhir_response(_bundle(sandbox, request, profile, base_url, [], resources, offset, count))


def _bundle(
    sandbox: Sandbox,
    request: Request,
    profile: Profile,
    base_url: str,
    used: list[tuple[str, str]],
    matches: list[Resource],
    offset: int,
    count: int,
) -> dict[str, Any]:
    """A ``searchset`` Bundle page with ``self``/``next``/``previous`` links (R4 http §3.1.0.10)."""
    fhir_base = sandbox.fhir_base(request, profile)
    page = matches[offset : offset + count]

    def link(relation: str, page_offset: int) -> dict[str, str]:
        query = [*used, ("_count", str(count)), ("_offset", str(page_offset))]
        return {"relation": relation, "url": f"{base_url}?{urlencode(query)}"}

    links = [link("self", offset)]
    if count and offset + count < len(matches):
        links.append(link("next", offset + count))
    if offset > 0 and count:
        links.append(link("previous", max(0, offset - count)))
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": format_instant(datetime.now(UTC))},
        "type": "searchset",
        "total": len(matches),
        "link": links,
        "entry": [
            {
                "fullUrl": f"{fhir_base}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in page
        ],
    }
