"""Plain-word statuses and monogram badges of the hosted pages."""

from __future__ import annotations

from datetime import UTC, datetime

from ehrconnect.hosted.views import TONES, attempt_view, monogram, tone
from ehrconnect.models import Connection


def _conn(status: str, **extra: object) -> Connection:
    return Connection(id="conn_x", source_id="fhirsrc_x", status=status, **extra)


def test_monogram_and_tone() -> None:
    assert monogram("Sandbox Health") == "SH"
    assert monogram("mercy-west  clinic of Springfield") == "MW"
    assert monogram("(((") == "?"
    assert 0 <= tone("Sandbox Health") < TONES and tone("A") == tone("A")


def test_attempt_words() -> None:
    active = attempt_view(_conn("active"), None, "/retry")
    assert (active.headline, active.ok, active.retry_href) == ("Connected — pulling records", True, None)
    synced = attempt_view(_conn("active", last_synced_at=datetime.now(UTC)), None, "/retry")
    assert synced.headline == "Connected — records up to date"
    denied = attempt_view(_conn("failed", failure_code="user_denied"), None, "/retry")
    assert not denied.ok and denied.retry_href == "/retry" and "chose not to share" in (denied.detail or "")
    unknown = attempt_view(_conn("failed", failure_code="weird"), None, "/retry")
    assert unknown.detail == "Something went wrong while connecting."
    lapsed = attempt_view(_conn("refresh_failed"), None, "/retry")
    assert lapsed.retry_href == "/retry" and "reconnect" in lapsed.headline
