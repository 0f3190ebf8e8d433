"""The retry policy: what is retried, backoff, jitter and Retry-After."""

from __future__ import annotations

import ssl

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.api.retry import (
    Delivery,
    Failure,
    RetryPolicy,
    classify_transport_error,
    is_retryable,
    parse_retry_after,
)
from reconciler.errors import UsageError

NOT_SENT = Failure(Delivery.NOT_SENT, "refused")
MAYBE_SENT = Failure(Delivery.MAYBE_SENT, "read timeout")
SERVER_ERROR = Failure(Delivery.ANSWERED, "HTTP 500", status=500)
RATE_LIMITED = Failure(Delivery.ANSWERED, "HTTP 429", status=429)
TLS = Failure(Delivery.NOT_SENT, "TLS", permanent=True)


@pytest.mark.parametrize(
    ("failure", "for_trigger", "for_cancel"),
    [
        (NOT_SENT, True, True),
        (MAYBE_SENT, False, True),
        (SERVER_ERROR, False, True),
        (RATE_LIMITED, True, True),
        (TLS, False, False),
    ],
)
def test_what_is_retried(failure: Failure, for_trigger: bool, for_cancel: bool) -> None:
    assert is_retryable(failure, idempotent=False) is for_trigger
    assert is_retryable(failure, idempotent=True) is for_cancel


@pytest.mark.parametrize(
    ("error", "delivery"),
    [
        (httpx.ConnectError("refused"), Delivery.NOT_SENT),
        (httpx.ConnectTimeout("t"), Delivery.NOT_SENT),
        (httpx.PoolTimeout("t"), Delivery.NOT_SENT),
        (httpx.ReadTimeout("t"), Delivery.MAYBE_SENT),
        (httpx.WriteTimeout("t"), Delivery.MAYBE_SENT),
        (httpx.RemoteProtocolError("dropped"), Delivery.MAYBE_SENT),
        (httpx.ReadError("reset"), Delivery.MAYBE_SENT),
        (httpx.WriteError("pipe"), Delivery.MAYBE_SENT),
        (httpx.DecodingError("bad gzip"), Delivery.MAYBE_SENT),
        (httpx.LocalProtocolError("odd"), Delivery.MAYBE_SENT),
    ],
    ids=lambda v: type(v).__name__,
)
def test_classify_transport_errors(error: httpx.RequestError, delivery: Delivery) -> None:
    failure = classify_transport_error(error)
    assert failure.delivery is delivery
    assert not failure.permanent
    assert failure.status is None


def test_unknown_errors_are_named_in_the_reason() -> None:
    assert classify_transport_error(httpx.DecodingError("bad gzip")).reason == (
        "DecodingError (bad gzip)"
    )


def test_a_tls_failure_deep_in_the_chain_is_permanent() -> None:
    inner = httpx.ConnectError("wrapped")  # stands in for httpcore's ConnectError
    inner.__cause__ = ssl.SSLCertVerificationError("certificate verify failed")
    outer = httpx.ConnectError("certificate verify failed")
    outer.__cause__ = inner

    failure = classify_transport_error(outer)
    assert failure.permanent
    assert failure.reason == "TLS handshake failed (certificate verify failed)"


def test_backoff_doubles_up_to_the_cap_without_jitter() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=3.0, random=lambda: 0.0)
    assert [policy.backoff(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]


def test_backoff_does_not_overflow() -> None:
    assert RetryPolicy(max_delay=9.0, random=lambda: 0.0).backoff(10_000) == 9.0


def test_full_jitter_can_take_off_the_whole_delay() -> None:
    assert RetryPolicy(base_delay=2.0, jitter=1.0, random=lambda: 1.0).backoff(1) == 0.0


@given(
    attempt=st.integers(min_value=1, max_value=200),
    jitter=st.floats(min_value=0.0, max_value=1.0),
    draw=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
)
def test_jitter_is_bounded(attempt: int, jitter: float, draw: float) -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=20.0, jitter=jitter, random=lambda: draw)
    ceiling = min(20.0, 0.5 * 2.0 ** (attempt - 1))
    assert ceiling * (1 - jitter) - 1e-9 <= policy.backoff(attempt) <= ceiling


def test_next_delay_stops_at_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=3, random=lambda: 0.0)
    assert policy.next_delay(NOT_SENT, 1, idempotent=False) == 0.5
    assert policy.next_delay(NOT_SENT, 2, idempotent=False) == 1.0
    assert policy.next_delay(NOT_SENT, 3, idempotent=False) is None


def test_next_delay_refuses_what_is_not_retryable() -> None:
    assert RetryPolicy().next_delay(MAYBE_SENT, 1, idempotent=False) is None


def test_retry_after_is_a_floor_with_a_cap() -> None:
    policy = RetryPolicy(max_retry_after=30.0, random=lambda: 0.0)
    asked = Failure(Delivery.ANSWERED, "429", status=429, retry_after=12.0)
    too_long = Failure(Delivery.ANSWERED, "429", status=429, retry_after=31.0)
    assert policy.next_delay(asked, 1, idempotent=False) == 12.0
    assert policy.next_delay(too_long, 1, idempotent=False) is None


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Sun, 06 Nov 1994 08:49:37 GMT", 17.0),  # IMF-fixdate
        ("Sunday, 06-Nov-94 08:49:37 GMT", 17.0),  # RFC 850
        ("Sun Nov  6 08:49:37 1994", 17.0),  # asctime: no zone, means GMT
        ("Sun, 06 Nov 1994 08:49:00 GMT", 0.0),  # in the past
        (None, None),
        ("", None),
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("\u0663", None),  # a non-ASCII digit
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, now=784111760.0) == seconds


@pytest.mark.parametrize(
    "options",
    [{"max_attempts": 0}, {"base_delay": -1.0}, {"jitter": 1.5}, {"max_retry_after": -1.0}],
)
def test_policy_limits_are_checked(options: dict[str, float]) -> None:
    with pytest.raises(UsageError):
        RetryPolicy(**options)  # type: ignore[arg-type]
