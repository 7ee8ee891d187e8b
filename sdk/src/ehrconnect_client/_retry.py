"""Pure retry policy: which failures are retried, and how long to wait before each retry.

No I/O and no clock of its own: callers pass the current time and a random number in, so the
policy is deterministic under test.

Rules (the Medblocks SDK's policy, made explicit for writes):

* Retried failures: network errors (no response at all), 429, 502, 503 and 504. Never 500
  (a bug: the same request fails the same way) and never any other 4xx (the request is wrong).
* Safe methods (GET, HEAD, OPTIONS) are always retryable.
* PUT and DELETE are idempotent by HTTP semantics (RFC 9110 section 9.2.2): repeating them leaves
  the server in the same state, so they are retried like reads. A DELETE whose first attempt
  succeeded but whose response was lost will answer 404 on the retry.
* POST is retried only when it carries an ``Idempotency-Key``: then the server replays the first
  outcome instead of acting twice. A 409 ``idempotency_key_in_use`` (the first attempt under the
  key is still running on the server) is retried for such requests too.
* Backoff before retry ``n`` (0-based) is ``initial_delay * 2**n`` (capped at ``max_delay``) plus
  a uniform jitter in ``[0, jitter)``: 250-500 ms, 500-750 ms, 1000-1250 ms, 2000-2250 ms.
* ``Retry-After`` (RFC 9110 section 10.2.3) is honoured: the wait is at least that long. A
  ``Retry-After`` beyond ``max_retry_after`` is not waited out; the error is raised instead so
  the caller can decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parsedate_to_datetime

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
#: Error codes that mean "try again later" whatever their status: the server is still running
#: the first request under this Idempotency-Key (a retry after a timeout can overtake it).
RETRYABLE_KEYED_CODES = frozenset({"idempotency_key_in_use"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
IDEMPOTENT_WRITE_METHODS = frozenset({"PUT", "DELETE"})


@dataclass(frozen=True)
class RetryPolicy:
    """Retry limits and backoff shape. Immutable; derive variants with ``dataclasses.replace``."""

    max_retries: int = 3
    initial_delay: float = 0.25
    max_delay: float = 8.0
    jitter: float = 0.25
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if self.initial_delay < 0 or self.max_delay < 0 or self.jitter < 0 or self.max_retry_after < 0:
            raise ValueError("retry delays must be >= 0")

    def backoff(self, retry_number: int, rand: float) -> float:
        """Seconds to wait before retry ``retry_number`` (0-based); ``rand`` is in ``[0, 1)``."""
        base = min(self.initial_delay * (2.0**retry_number), self.max_delay)
        return base + self.jitter * rand


@dataclass(frozen=True)
class RetryDecision:
    """Outcome of :func:`decide`: retry or not, the wait, and a log-safe reason."""

    retry: bool
    delay: float = 0.0
    reason: str = ""


def method_is_retryable(method: str, *, has_idempotency_key: bool) -> bool:
    """Whether a request with this method may be sent twice without changing the outcome."""
    upper = method.upper()
    if upper in SAFE_METHODS or upper in IDEMPOTENT_WRITE_METHODS:
        return True
    return has_idempotency_key


def status_is_retryable(status: int) -> bool:
    """Whether an HTTP status is transient (429, 502, 503, 504)."""
    return status in RETRYABLE_STATUSES


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP-date.

    ``now`` is the current Unix time (used for the HTTP-date form). Returns ``None`` when the
    header is absent or unparseable; never a negative number.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = moment.timestamp() - now
    if seconds != seconds or seconds in (float("inf"), float("-inf")):  # NaN / inf
        return None
    return max(seconds, 0.0)


def decide(
    policy: RetryPolicy,
    *,
    method: str,
    has_idempotency_key: bool,
    retries_done: int,
    rand: float,
    status: int | None = None,
    code: str | None = None,
    retry_after: float | None = None,
) -> RetryDecision:
    """Decide whether to retry after a failed attempt.

    ``status`` is ``None`` for a network failure (no response); ``code`` is the error envelope's
    ``code``. ``retries_done`` counts the retries already made for this call (0 after the first
    attempt).
    """
    keyed_wait = has_idempotency_key and code in RETRYABLE_KEYED_CODES
    if status is not None and not status_is_retryable(status) and not keyed_wait:
        return RetryDecision(False, reason=f"status {status} is not retryable")
    if not method_is_retryable(method, has_idempotency_key=has_idempotency_key):
        return RetryDecision(False, reason=f"{method.upper()} without Idempotency-Key is not retried")
    if retries_done >= policy.max_retries:
        return RetryDecision(False, reason=f"gave up after {retries_done} retries")
    if retry_after is not None and retry_after > policy.max_retry_after:
        return RetryDecision(False, reason=f"Retry-After {retry_after:g}s exceeds {policy.max_retry_after:g}s")
    delay = policy.backoff(retries_done, rand)
    if retry_after is not None:
        delay = max(delay, retry_after)
    reason = "network error" if status is None else f"status {status}" + (f" {code}" if keyed_wait else "")
    return RetryDecision(True, delay=delay, reason=reason)
