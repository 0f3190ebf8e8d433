"""When a failed request is tried again, and after how long.

A failed attempt is described by a ``Failure``: plain data, never an httpx object (those carry
the request and its ``X-Api-Key`` header). Its ``delivery`` is what we know about whether the
request reached the server:

    NOT_SENT     provably never reached it: connect refused, DNS failure, connect timeout,
                 no free pooled connection
    MAYBE_SENT   it left us and no answer came: read/write timeout, dropped connection
    ANSWERED     the server answered with a transient status: 429 or 5xx

The rules (``is_retryable``):

- 429 is retried for every request: the server said it did nothing.
- A request that is safe to repeat (cancel) is retried on every transient failure.
- A request that is not (trigger: each one spends probe credits) is retried only when it was
  NOT_SENT. After a 5xx or a lost answer the run may exist; the caller reports it as unknown.
- A failure that retrying cannot fix (TLS certificate rejected) is never retried.

Delays (``RetryPolicy.next_delay``) grow exponentially from ``base_delay``, are capped at
``max_delay``, and are shortened by up to ``jitter`` (a fraction) at random so parallel workers
do not retry in lockstep. A ``Retry-After`` from the server is a floor on the delay; when it asks
for more than ``max_retry_after`` seconds the request gives up rather than retry early.
"""

from __future__ import annotations

import enum
import random
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Final

import httpx

from reconciler.errors import UsageError


class Delivery(enum.Enum):
    """What is known about whether a failed request reached the server."""

    NOT_SENT = "not sent"
    MAYBE_SENT = "maybe sent"
    ANSWERED = "answered"


@dataclass(frozen=True)
class Failure:
    """One failed attempt, as plain data safe to log and to put in messages."""

    delivery: Delivery
    #: What happened, for people: "connection refused", "HTTP 503 Service Unavailable".
    reason: str
    status: int | None = None
    #: Seconds the server asked us to wait (``Retry-After``), when it said.
    retry_after: float | None = None
    #: The server's own explanation (``error.message``), sanitised, when it gave one.
    server_message: str | None = None
    #: Retrying cannot help (e.g. the TLS certificate was rejected).
    permanent: bool = False


def is_retryable(failure: Failure, *, idempotent: bool) -> bool:
    """Whether this failure may be retried for a request that is (or is not) safe to repeat."""
    if failure.permanent:
        return False
    if failure.status == 429:
        return True
    return idempotent or failure.delivery is Delivery.NOT_SENT


# What each httpx error tells about delivery, most specific first: the timeouts are checked
# before ConnectError's siblings, and only these connect-phase errors prove nothing was sent.
_TRANSPORT_ERRORS: Final[tuple[tuple[type[httpx.RequestError], Delivery, str], ...]] = (
    (httpx.ConnectTimeout, Delivery.NOT_SENT, "connect timeout: no connection was accepted"),
    (httpx.PoolTimeout, Delivery.NOT_SENT, "pool timeout: no free connection to send it on"),
    (httpx.ConnectError, Delivery.NOT_SENT, "could not connect ({detail})"),
    (httpx.ReadTimeout, Delivery.MAYBE_SENT, "read timeout: no answer came in time"),
    (httpx.WriteTimeout, Delivery.MAYBE_SENT, "write timeout while sending the request"),
    (
        httpx.RemoteProtocolError,
        Delivery.MAYBE_SENT,
        "connection dropped without an answer ({detail})",
    ),
    (
        httpx.ReadError,
        Delivery.MAYBE_SENT,
        "connection failed while waiting for the answer ({detail})",
    ),
    (
        httpx.WriteError,
        Delivery.MAYBE_SENT,
        "connection failed while sending the request ({detail})",
    ),
    # Anything else (a decoding error, a protocol error we do not know): assume the worst.
    (httpx.RequestError, Delivery.MAYBE_SENT, "{kind} ({detail})"),
)


def classify_transport_error(exc: httpx.RequestError) -> Failure:
    """Describe an httpx request error without keeping any reference to it."""
    detail = str(exc) or type(exc).__name__
    delivery, reason = next(
        (delivery, reason) for kind, delivery, reason in _TRANSPORT_ERRORS if isinstance(exc, kind)
    )
    if isinstance(exc, httpx.ConnectError) and _caused_by_tls(exc):
        return Failure(delivery, f"TLS handshake failed ({detail})", permanent=True)
    return Failure(delivery, reason.format(detail=detail, kind=type(exc).__name__))


def _caused_by_tls(exc: BaseException) -> bool:
    """httpx wraps httpcore which wraps the ssl error: walk the chain a few links down."""
    link: BaseException | None = exc
    for _ in range(5):
        if link is None:
            return False
        if isinstance(link, ssl.SSLError):
            return True
        link = link.__cause__ or link.__context__
    return False


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait by a ``Retry-After`` value (delay-seconds or HTTP-date); None if unusable."""
    if value is None:
        return None
    value = value.strip()
    if re.fullmatch(r"[0-9]+", value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    # asctime dates and "-0000" parse as naive datetimes, but every HTTP-date is GMT.
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts a request gets and how long to wait between them.

    ``sleep``, ``random`` and ``clock`` are injectable so tests run instantly and exactly.
    """

    #: Attempts in total, the first included; 1 disables retries.
    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 20.0
    #: Fraction of each delay that may be taken off at random (0 = none, 1 = "full jitter").
    jitter: float = 0.5
    #: A Retry-After longer than this makes the request give up instead of waiting.
    max_retry_after: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)
    random: Callable[[], float] = field(default=random.random, repr=False, compare=False)
    clock: Callable[[], float] = field(default=time.time, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise UsageError(f"retry attempts must be at least 1, not {self.max_attempts}")
        if min(self.base_delay, self.max_delay, self.max_retry_after) < 0:
            raise UsageError("retry delays must not be negative")
        if not 0.0 <= self.jitter <= 1.0:
            raise UsageError(f"retry jitter must be between 0 and 1, not {self.jitter}")

    def backoff(self, attempt: int) -> float:
        """Delay after failed attempt number ``attempt`` (1-based), jitter applied."""
        # The exponent is clamped so a huge attempt count cannot overflow the float.
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** min(attempt - 1, 64))
        return ceiling * (1.0 - self.jitter * self.random())

    def next_delay(self, failure: Failure, attempt: int, *, idempotent: bool) -> float | None:
        """Seconds to wait before the next attempt, or None to give up after ``attempt``."""
        if attempt >= self.max_attempts or not is_retryable(failure, idempotent=idempotent):
            return None
        delay = self.backoff(attempt)
        if failure.retry_after is not None:
            if failure.retry_after > self.max_retry_after:
                return None
            delay = max(delay, failure.retry_after)
        return delay
