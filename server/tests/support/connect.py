"""Connect a sandbox patient without a browser: the real SMART flow over HTTP, then the rows the
hosted flow writes (an active Connection plus its sync job, in one transaction).

The portal pages are followed like a browser would: GET the authorize URL (login page), POST the
login form (its action and hidden CSRF fields parsed from the HTML), GET the consent page, POST
``decision=allow``, and read ``code`` from the redirect. The code is exchanged with ``smart``.
"""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
from ehrconnect.api.context import AppContext
from ehrconnect.kit.ids import new_id
from ehrconnect.kit.time import utcnow
from ehrconnect.models import Connection, FhirSource, Organization, Patient
from ehrconnect.sandbox_ehr import ClientRegistration as SandboxClient
from ehrconnect.sandbox_ehr import SandboxSettings
from ehrconnect.smart import (
    ClientRegistration,
    SmartConfiguration,
    TokenSet,
    build_authorize_url,
    create_pkce_pair,
    default_scopes,
    discover_smart_configuration,
    exchange_authorization_code,
    generate_state,
)
from sqlalchemy import select

PASSWORD = "sandbox-password"


def sandbox_settings(public_url: str, client_id: str = "ehrconnect-sandbox", **overrides: object) -> SandboxSettings:
    """Sandbox settings with the platform's public client redirecting to `{public_url}/oauth/callback`."""
    client = SandboxClient(client_id=client_id, redirect_uris=[f"{public_url}/oauth/callback"], name="ehrconnect")
    return SandboxSettings(clients=[client], **overrides)  # type: ignore[arg-type]


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append((a.get("action", ""), {}))
        elif tag == "input" and self.forms and "name" in a and a.get("type") != "submit":
            self.forms[-1][1][a["name"]] = a.get("value", "")


def _only_form(html: str) -> tuple[str, dict[str, str]]:
    parser = _Forms()
    parser.feed(html)
    assert len(parser.forms) == 1, f"expected one form, found {len(parser.forms)}"
    return parser.forms[0]


async def authorize(
    http: httpx.AsyncClient,
    fhir_base_url: str,
    username: str,
    *,
    client_id: str,
    redirect_uri: str,
    password: str = PASSWORD,
) -> tuple[TokenSet, SmartConfiguration]:
    """Run the standalone launch against the sandbox portal and exchange the code."""
    config = await discover_smart_configuration(http, fhir_base_url)
    pkce = create_pkce_pair()
    scopes = default_scopes(config)
    state = generate_state()
    url = build_authorize_url(
        config, client_id=client_id, redirect_uri=redirect_uri, scopes=scopes, state=state,
        code_challenge=pkce.challenge,
    )
    async with httpx.AsyncClient(follow_redirects=False, timeout=30) as browser:
        page = await browser.get(url)
        assert page.status_code == 200, page.text[:500]
        action, fields = _only_form(page.text)
        fields.update({"username": username, "password": password})
        response = await browser.post(urljoin(url, action), data=fields)
        assert response.status_code == 303, response.text[:500]
        consent_url = urljoin(url, response.headers["location"])
        consent = await browser.get(consent_url)
        assert consent.status_code == 200, consent.text[:500]
        action, fields = _only_form(consent.text)
        final = await browser.post(urljoin(consent_url, action), data={**fields, "decision": "allow"})
        assert final.status_code in (302, 303), final.text[:500]
        query = parse_qs(urlsplit(final.headers["location"]).query)
    assert query["state"] == [state]
    tokens = await exchange_authorization_code(
        http, config, ClientRegistration(client_id=client_id), code=query["code"][0],
        redirect_uri=redirect_uri, code_verifier=pkce.verifier, requested_scopes=scopes,
    )
    return tokens, config


@dataclass(frozen=True)
class Connected:
    """A connected sandbox patient."""

    connection_id: str
    patient_pk: str
    patient_id: str
    fhir_patient_id: str
    source_id: str


async def connect_patient(
    ctx: AppContext,
    *,
    sandbox_root: str,
    username: str,
    profile: str = "normal",
    patient_id: str = "patient-1",
    organization: str = "acme",
    environment: str = "sandbox",
) -> Connected:
    """Authorize `username` at the sandbox profile and create the active connection + sync job
    exactly as the hosted flow does (the catalog must be seeded with `sandbox_root`)."""
    from ehrconnect.worker.queue import enqueue_sync

    fhir_base = f"{sandbox_root}/{profile}/fhir"
    tokens, config = await authorize(
        ctx.http, fhir_base, username, client_id=ctx.settings.sandbox_client_id,
        redirect_uri=ctx.settings.oauth_redirect_uri,
    )
    assert tokens.patient
    now = utcnow()
    async with ctx.db.session() as session:
        found = await session.execute(select(Organization).where(Organization.name == organization))
        org = found.scalar_one_or_none()
        if org is None:
            org = Organization(id=new_id("organization"), name=organization)
            session.add(org)
            await session.flush()
        source = (
            await session.execute(
                select(FhirSource).where(FhirSource.environment == environment, FhirSource.fhir_base_url == fhir_base)
            )
        ).scalar_one()
        patient = (
            await session.execute(
                select(Patient).where(
                    Patient.organization_id == org.id, Patient.environment == environment,
                    Patient.patient_id == patient_id,
                )
            )
        ).scalar_one_or_none()
        if patient is None:
            patient = Patient(
                pk=new_id("patient"), organization_id=org.id, environment=environment, patient_id=patient_id,
                metadata_={},
            )
            session.add(patient)
            await session.flush()
        conn = Connection(
            id=new_id("connection"), organization_id=org.id, environment=environment, patient_pk=patient.pk,
            source_id=source.id, fhir_base_url=fhir_base, status="active", scopes=list(tokens.scopes),
            fhir_patient_id=tokens.patient,
            access_token_encrypted=ctx.cipher.encrypt(tokens.access_token.get_secret_value()),
            refresh_token_encrypted=(
                ctx.cipher.encrypt(tokens.refresh_token.get_secret_value()) if tokens.refresh_token else None
            ),
            token_expires_at=tokens.expires_at, token_issued_at=tokens.issued_at,
            token_endpoint=config.token_endpoint, revocation_endpoint=config.revocation_endpoint,
            oauth_client_id="settings:sandbox", sync_status="pending", created_at=now, updated_at=now,
        )
        session.add(conn)
        await session.flush()
        await enqueue_sync(session, conn.id)
    return Connected(conn.id, patient.pk, patient_id, tokens.patient, source.id)
