"""The return page's state comes from the server's session; the URL hint can never upgrade it."""

from __future__ import annotations

import time
from typing import Any

import pytest
from ehrconnect_client import Session, parse_return_url
from trialmatched.outcome import State, classify, describe_failure
from trialmatched.websession import MAX_AGE_SECONDS, SessionCodec, WebSession

TS = "2026-04-25T14:30:00.000Z"


def session(status: str = "complete", *attempts: tuple[str | None, str, str | None]) -> Session:
    body: dict[str, Any] = {
        "id": "sess_01TEST", "status": status, "url": "https://h/c/x", "patient_id": "tm_1",
        "return_url": "https://app/connect/return", "expires_at": TS, "created_at": TS,
        "connections": [
            {"id": conn_id, "connection_id": "fhirsrc_1", "status": st, "failure_code": code, "created_at": TS}
            for conn_id, st, code in attempts
        ],
    }
    return Session.model_validate(body)


ACTIVE = ("conn_1", "active", None)
DENIED = (None, "failed", "user_denied")
BROKEN = (None, "failed", "token_exchange_failed")


@pytest.mark.parametrize(
    ("attempts", "expected"),
    [
        ((ACTIVE,), State.SUCCESS),
        ((ACTIVE, ACTIVE), State.SUCCESS),
        ((ACTIVE, BROKEN), State.PARTIAL),
        ((ACTIVE, DENIED), State.PARTIAL),
        ((BROKEN,), State.FAILURE),
        ((DENIED, BROKEN), State.FAILURE),
        ((DENIED,), State.CANCELLED),
        ((), State.CANCELLED),
    ],
)
def test_states_from_attempts(attempts: tuple[tuple[str | None, str, str | None], ...], expected: State) -> None:
    assert classify(session("complete", *attempts)).state is expected


def test_open_session_is_pending() -> None:
    assert classify(session("open")).state is State.PENDING


def test_forged_success_hint_does_not_make_a_success() -> None:
    hint = parse_return_url("session_id=sess_01TEST&success=true&connection_id=fhirsrc_1")
    assert classify(session("complete"), hint).state is State.CANCELLED
    assert classify(session("complete", BROKEN), hint).state is State.FAILURE


def test_error_hint_words_a_failure_with_no_attempt_on_record() -> None:
    hint = parse_return_url("session_id=sess_01TEST&success=false&error=source_unavailable")
    outcome = classify(session("complete"), hint)
    assert outcome.state is State.FAILURE
    assert outcome.failure_codes == ("source_unavailable",)
    denied = parse_return_url("session_id=sess_01TEST&success=false&error=user_denied")
    assert classify(session("complete"), denied).state is State.CANCELLED


def test_counts_and_codes() -> None:
    outcome = classify(session("complete", ACTIVE, BROKEN, BROKEN, DENIED))
    assert (outcome.active_count, outcome.failed_count) == (1, 3)
    assert outcome.failure_codes == ("token_exchange_failed", "user_denied")
    assert describe_failure("something_new") == "The health system did not grant access."


def test_session_cookie_is_tamper_proof_and_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    codec = SessionCodec("secret-one", secure=False)
    value = codec.encode(WebSession(user_id=7))
    decoded = codec.decode(value)
    assert decoded is not None and decoded.user_id == 7
    payload, _, signature = value.rpartition(".")
    assert codec.decode(payload + "." + "0" * len(signature)) is None
    assert SessionCodec("secret-two", secure=False).decode(value) is None
    assert codec.decode("garbage") is None
    monkeypatch.setattr(time, "time", lambda: decoded.issued_at + MAX_AGE_SECONDS + 1)
    assert codec.decode(value) is None


def test_csrf_comparison() -> None:
    web = WebSession()
    assert web.csrf_ok(web.csrf_token)
    assert not web.csrf_ok("")
    assert not web.csrf_ok(None)
    assert not web.csrf_ok(web.csrf_token + "x")
