"""What the patient sees after coming back: decided from ``GET /sessions/{id}``, not the URL.

The return URL's query string is a hint that anyone can type (``success=true``). The session
read on the server is the truth: a connection with status ``active`` is the only success
signal; a ``complete`` session only means the browser flow ended (it can be complete with every
attempt failed). The hint is used for one thing only: to word a failure the server recorded no
attempt for (e.g. the portal was down before any attempt existed). It can never turn a failure
into a success.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ehrconnect_client import ReturnParams, Session, active_connections

#: Failure codes that mean "the patient said no", not "something broke".
CANCEL_CODES = frozenset({"user_denied"})

FAILURE_TEXT = {
    "user_denied": "You chose not to share your records.",
    "oauth_callback_failed": "The health system's sign-in did not finish correctly.",
    "token_exchange_failed": "The health system did not confirm access.",
    "session_expired": "The connection link expired before you finished.",
    "source_unavailable": "The health system's portal is not reachable right now.",
    "refresh_failed": "Access to this health system has lapsed.",
}
GENERIC_FAILURE = "The health system did not grant access."


class State(StrEnum):
    """The return page's distinct states."""

    SUCCESS = "success"  # every attempt became active
    PARTIAL = "partial"  # at least one active, at least one failed
    FAILURE = "failure"  # attempts made, none active
    CANCELLED = "cancelled"  # nothing attempted, or the patient refused consent
    PENDING = "pending"  # session still open: the patient has not finished


@dataclass(frozen=True)
class Outcome:
    """The classified session, ready for the template."""

    state: State
    session_id: str
    active_count: int
    failed_count: int
    failure_codes: tuple[str, ...]


def classify(session: Session, hint: ReturnParams | None = None) -> Outcome:
    """Decide the state from the server's session (and, for wording only, the URL hint)."""
    active = active_connections(session)
    active_ids = {id(c) for c in active}
    failed = [c for c in session.connections if id(c) not in active_ids]
    codes = tuple(dict.fromkeys(c.failure_code or c.status for c in failed))
    if active:
        state = State.PARTIAL if failed else State.SUCCESS
    elif failed:
        state = State.CANCELLED if set(codes) <= CANCEL_CODES else State.FAILURE
    elif session.status == "open":
        state = State.PENDING
    elif hint is not None and hint.error and hint.error not in CANCEL_CODES:
        # No attempt on record but the platform reported an error (e.g. source_unavailable).
        state, codes = State.FAILURE, (hint.error,)
    else:
        state = State.CANCELLED
    return Outcome(state, session.id, len(active), len(failed), codes)


def describe_failure(code: str) -> str:
    """A patient-friendly sentence for a failure code (never the raw server message)."""
    return FAILURE_TEXT.get(code, GENERIC_FAILURE)
