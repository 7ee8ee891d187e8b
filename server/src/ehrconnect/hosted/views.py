"""View models for the hosted pages: source cards and connection status in plain words.

Logos: catalog ``logo_url`` values point at third-party hosts, which the strict CSP
(``img-src 'self'``) would block and which would leak the patient's visit to those hosts. We render
a local monogram badge instead (initials on one of eight tones derived from the name).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ehrconnect.models import Connection, FhirSource

TONES = 8


@dataclass(frozen=True)
class SourceCard:
    id: str
    name: str
    subtitle: str | None
    monogram: str
    tone: int
    recommended: bool
    href: str

    def as_json(self) -> dict[str, object]:
        """The shape the progressive search script renders."""
        return {
            "id": self.id,
            "name": self.name,
            "subtitle": self.subtitle,
            "monogram": self.monogram,
            "tone": self.tone,
            "recommended": self.recommended,
            "href": self.href,
        }


def monogram(name: str) -> str:
    """Up to two initials from the first words with letters (``Sandbox Health`` -> ``SH``)."""
    words = [w for w in name.replace("-", " ").split() if w[:1].isalnum()]
    letters = "".join(w[0] for w in words[:2]).upper()
    return letters or "?"


def tone(name: str) -> int:
    return hashlib.sha256(name.encode()).digest()[0] % TONES


def subtitle_of(source: FhirSource, matched_name: str | None = None) -> str | None:
    """A second line that helps tell similar names apart: matched alias, city, or brand."""
    if matched_name:
        return f"Also known as {matched_name}"
    for loc in source.locations or []:
        city, state = loc.get("city"), loc.get("state")
        if city and state:
            return f"{city}, {state}"
    if source.brand and not source.name.lower().startswith(source.brand.lower()):
        return source.brand
    return None


def source_card(
    source: FhirSource, href: str, *, recommended: bool = False, matched_name: str | None = None
) -> SourceCard:
    """A picker entry for ``source``."""
    return SourceCard(
        id=source.id,
        name=source.name,
        subtitle=subtitle_of(source, matched_name),
        monogram=monogram(source.name),
        tone=tone(source.name),
        recommended=recommended,
        href=href,
    )


FAILURE_WORDS = {
    "user_denied": "You chose not to share records from here.",
    "oauth_callback_failed": "The sign-in didn't finish. It may have taken too long or been interrupted.",
    "token_exchange_failed": "The health system didn't grant access this time.",
    "source_unavailable": "This health system isn't reachable right now.",
}


@dataclass(frozen=True)
class AttemptView:
    source_name: str
    monogram: str
    tone: int
    headline: str
    detail: str | None
    ok: bool
    retry_href: str | None


def attempt_view(conn: Connection, source: FhirSource | None, retry_href: str) -> AttemptView:
    """One attempt as the patient should read it."""
    name = source.name if source else "Health system"
    ok = conn.status == "active"
    detail: str | None = None
    retry: str | None = None
    if conn.status == "active":
        headline = "Connected — records up to date" if conn.last_synced_at else "Connected — pulling records"
    elif conn.status == "failed":
        headline = "Not connected"
        detail = FAILURE_WORDS.get(conn.failure_code or "", "Something went wrong while connecting.")
        retry = retry_href
    elif conn.status == "disconnected":
        headline = "Disconnected"
    else:  # expired / refresh_failed: access lapsed after connecting
        headline = "Access expired — please reconnect"
        retry = retry_href
    return AttemptView(name, monogram(name), tone(name), headline, detail, ok, retry)
