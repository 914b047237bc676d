"""Riding out a database that went away: exponential backoff with a bounded total wait.

A worker trains for hours; a MongoDB restart or a network blip in the middle must cost a
few seconds of waiting, not the session. Operations are retried only on connection-level
errors (the request may or may not have reached the server), so every caller makes its
operation safe to repeat (compare-and-set filters, client-chosen ids) and is told, through
`Attempt.number`, whether it is a repeat.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from pymongo.errors import ConnectionFailure, PyMongoError

from qraptor.core.log import get_logger
from qraptor.core.redact import redact_text
from qraptor.store.config import RetryConfig
from qraptor.store.errors import StoreUnavailable

log = get_logger(__name__)
T = TypeVar("T")

# Server errors that mean "not now" rather than "no": shutting down, stepping down.
_TRANSIENT_CODES = frozenset({91, 189, 10107, 11600, 11602, 13435, 13436})


@dataclass
class Attempt:
    """Passed to the retried operation: `number` 0 is the first try, >0 a repeat."""

    number: int = 0

    @property
    def is_retry(self) -> bool:
        return self.number > 0


def is_transient(exc: BaseException) -> bool:
    """A connection-level or shutdown error: the database may answer if asked again."""
    if isinstance(exc, ConnectionFailure):
        return True
    if isinstance(exc, PyMongoError) and exc.has_error_label("RetryableWriteError"):
        return True
    return getattr(exc, "code", None) in _TRANSIENT_CODES


def short_cause(exc: BaseException) -> str:
    """The first useful line of a pymongo error, password-free: no topology dump, no timeouts."""
    text = str(exc).strip() or type(exc).__name__
    text = text.split(", Timeout:")[0].split(" (configured timeouts")[0].splitlines()[0]
    return redact_text(text)


def delays(policy: RetryConfig, rng: random.Random | None = None):
    """Backoff delays: initial * multiplier**n, capped, with +-20% jitter so workers that
    lost the database together do not hammer it together when it returns."""
    rng = rng or random.Random()
    delay = policy.initial_delay_seconds
    while True:
        yield delay * rng.uniform(0.8, 1.2)
        delay = min(delay * policy.multiplier, policy.max_delay_seconds)


_outages = 0  # operations of this process that lost the database and got it back
_outages_lock = threading.Lock()


def outages_ridden_out() -> int:
    """How many operations of this process rode out a lost database (reconnected): the
    count a worker stores with a session's timings, so that a reliability check reads state,
    not log lines."""
    return _outages


def with_retry(
    operation: Callable[[Attempt], T],
    *,
    what: str,
    uri: str,
    policy: RetryConfig,
) -> T:
    """Run `operation`, retrying transient failures with backoff for up to
    `policy.total_seconds`; then raise StoreUnavailable naming the redacted `uri`.

    `what` names the operation in logs ("heartbeat of session X").
    """
    attempt = Attempt()
    started = time.monotonic()
    backoff = delays(policy)
    while True:
        try:
            result = operation(attempt)
        except PyMongoError as exc:
            if not is_transient(exc):
                raise
            waited = time.monotonic() - started
            cause = short_cause(exc)
            delay = next(backoff)
            if waited + delay > policy.total_seconds:
                log.error("%s: database %s unreachable for %.1f s, giving up", what, uri, waited)
                raise StoreUnavailable(uri, waited, cause) from None
            if attempt.number == 0:
                log.warning("%s: lost the database %s (%s); reconnecting", what, uri, cause)
            else:
                log.debug("%s: still no database after %.1f s (%s)", what, waited, cause)
            time.sleep(delay)
            attempt.number += 1
            continue
        if attempt.is_retry:
            global _outages
            with _outages_lock:
                _outages += 1
            waited = time.monotonic() - started
            log.info(
                "%s: reconnected to %s after %.1f s (%d retries)", what, uri, waited, attempt.number
            )
        return result
