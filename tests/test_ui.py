"""``reconciler.ui``: the progress reporter (live and plain), confirmation, console."""

from __future__ import annotations

import io
import re
import threading
from datetime import UTC, datetime

import pytest

from reconciler.apply import OperationResult, Outcome, ProgressEvent
from reconciler.plan.model import Action
from reconciler.ui import (
    Console,
    ProgressReporter,
    Redactor,
    confirm,
    format_seconds,
    live_progress_wanted,
    should_color,
)

NOW = datetime(2024, 5, 1, 12, 0, 7, tzinfo=UTC)
ERASE = "\r\x1b[2K"


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def make(
    total: int, *, live: bool, quiet: bool = False, verbose: bool = False
) -> tuple[ProgressReporter, io.StringIO, Clock]:
    err = io.StringIO()
    clock = Clock()
    console = Console(out=io.StringIO(), err=err, quiet=quiet)
    reporter = ProgressReporter(
        console, total, live=live, verbose=verbose, clock=clock, now=lambda: NOW
    )
    return reporter, err, clock


def started(key: str, action: Action = Action.TRIGGER) -> ProgressEvent:
    return ProgressEvent("started", key, action)


def finished(
    key: str, outcome: Outcome, run_id: int | None = None, message: str = ""
) -> ProgressEvent:
    action = Action.CANCEL if outcome is Outcome.CANCELLED else Action.TRIGGER
    result = OperationResult(key, action, outcome, run_id, message)
    return ProgressEvent("finished", key, action, result)


def test_plain_mode_prints_one_timestamped_line_per_operation() -> None:
    reporter, err, clock = make(3, live=False)
    reporter(started("a"))
    reporter(started("b"))
    assert err.getvalue() == ""
    clock.t += 1
    reporter(finished("a", Outcome.TRIGGERED, 1001))
    reporter(finished("b", Outcome.FAILED, message="HTTP 400: targetId 9 does not exist"))
    reporter(finished("old", Outcome.CANCELLED, 77))
    reporter.finish()
    assert err.getvalue() == (
        "12:00:07 + a: triggered (testRunId 1001)\n"
        "12:00:07 ! b: failed: HTTP 400: targetId 9 does not exist\n"
        "12:00:07 - old: cancelled\n"
    )


def test_plain_quiet_keeps_only_failures() -> None:
    reporter, err, _ = make(2, live=False, quiet=True)
    reporter(finished("a", Outcome.TRIGGERED, 1))
    reporter(finished("b", Outcome.UNKNOWN, message="read timeout"))
    reporter.finish()
    assert err.getvalue() == "12:00:07 ! b: outcome unknown: read timeout\n"


def test_verbose_also_prints_starts_and_is_never_live() -> None:
    reporter, err, _ = make(1, live=True, verbose=True)
    reporter(started("a", Action.REPLACE))
    reporter(finished("a", Outcome.REPLACED, 5))
    reporter.finish()
    assert err.getvalue() == (
        "12:00:07 a: replace started\n12:00:07 -/+ a: replaced (testRunId 5)\n"
    )


def test_live_mode_redraws_one_status_line_and_ends_it() -> None:
    reporter, err, clock = make(4, live=True)
    reporter(started("a"))
    assert err.getvalue() == (ERASE + "0/4 done, 0 failed, 1 in flight, 0.0/s, time left unknown")
    clock.t += 2
    reporter(finished("a", Outcome.TRIGGERED, 1))
    # Redraws are throttled, but 2 s passed: the line shows the rate and what is left.
    assert err.getvalue().endswith(ERASE + "1/4 done, 0 failed, 0 in flight, 0.5/s, 6s left")
    for key in "bcd":
        reporter(started(key))
        reporter(finished(key, Outcome.TRIGGERED, 2))
    reporter.finish()
    text = err.getvalue()
    assert text.endswith(ERASE + "4/4 done, 0 failed, 0 in flight, 2.0/s, took 2s\n")
    assert "\n" not in text[:-1]  # everything else happened in place
    assert "testRunId" not in text  # successes have no line of their own on a terminal


def test_live_failure_gets_its_own_line_above_the_status_line() -> None:
    reporter, err, clock = make(2, live=True)
    reporter(started("a"))
    clock.t += 1
    reporter(finished("a", Outcome.FAILED, message="a long message the summary repeats"))
    text = err.getvalue()
    before, line, after = text.rpartition(ERASE + "12:00:07 ! a: failed\n")
    assert line, text
    assert before.startswith(ERASE + "0/2 done")
    assert after == ERASE + "1/2 done, 1 failed, 0 in flight, 1.0/s, 1s left"
    reporter.finish()
    assert err.getvalue().endswith("\n")


def test_live_counts_unknown_outcomes_apart() -> None:
    reporter, err, clock = make(2, live=True)
    clock.t += 1
    reporter(finished("a", Outcome.UNKNOWN))
    reporter(finished("b", Outcome.FAILED))
    reporter.finish()
    assert err.getvalue().endswith("2/2 done, 1 failed, 1 unknown, 0 in flight, 2.0/s, took 1s\n")


def test_live_with_nothing_to_do_prints_nothing() -> None:
    reporter, err, _ = make(0, live=True)
    reporter.finish()
    reporter.finish()
    assert err.getvalue() == ""


def test_finish_after_an_interrupt_ends_the_line_once() -> None:
    reporter, err, clock = make(3, live=True)
    reporter(started("a"))
    clock.t += 1
    reporter(finished("a", Outcome.TRIGGERED, 1))
    reporter.finish()
    reporter.finish()
    assert err.getvalue().endswith("1/3 done, 0 failed, 0 in flight, 1.0/s, 2s left\n")
    assert err.getvalue().count("\n") == 1


def test_quiet_is_never_live() -> None:
    reporter, err, _ = make(1, live=True, quiet=True)
    reporter(started("a"))
    reporter(finished("a", Outcome.TRIGGERED, 1))
    reporter.finish()
    assert err.getvalue() == ""


def test_lines_from_many_threads_never_split() -> None:
    reporter, err, _ = make(200, live=True)

    def work(index: int) -> None:
        key = f"k{index}"
        reporter(started(key))
        reporter(finished(key, Outcome.FAILED if index % 3 == 0 else Outcome.TRIGGERED))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    reporter.finish()
    segments = err.getvalue().split(ERASE)
    assert segments[0] == ""
    status = re.compile(r"\d+/200 done, \d+ failed, \d+ in flight, [0-9.]+/s, .+")
    failure = re.compile(r"12:00:07 ! k\d+: failed\n")
    for segment in segments[1:-1]:
        assert status.fullmatch(segment) or failure.fullmatch(segment), repr(segment)
    assert sum(1 for seg in segments if failure.fullmatch(seg)) == 67
    assert segments[-1].startswith("200/200 done, 67 failed, 0 in flight")
    assert segments[-1].endswith("\n")


def test_the_key_never_reaches_the_progress_output() -> None:
    err = io.StringIO()
    console = Console(err=err, out=io.StringIO(), redact=Redactor(["s3cret-key"]))
    reporter = ProgressReporter(console, 1, live=False, now=lambda: NOW)
    reporter(finished("a", Outcome.FAILED, message="echoed s3cret-key"))
    assert "s3cret-key" not in err.getvalue()
    assert "***" in err.getvalue()


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (59.4, "59s"), (60, "1m00s"), (125, "2m05s"), (3720, "1h02m")]
)
def test_format_seconds(seconds: float, text: str) -> None:
    assert format_seconds(seconds) == text


@pytest.mark.parametrize(
    ("tty", "env", "expected"),
    [
        (True, {}, True),
        (False, {}, False),
        (True, {"CI": "true"}, False),
        (True, {"TERM": "dumb"}, False),
        (True, {"NO_COLOR": "1"}, True),  # NO_COLOR is about colour, not redrawing
    ],
)
def test_live_progress_wanted(tty: bool, env: dict[str, str], expected: bool) -> None:
    stream = Tty() if tty else io.StringIO()
    assert live_progress_wanted(stream, env) is expected


@pytest.mark.parametrize(
    ("typed", "approved"), [("yes\n", True), ("  yes \n", True), ("y\n", False), ("", False)]
)
def test_confirm_accepts_only_yes(typed: str, approved: bool) -> None:
    out = io.StringIO()
    console = Console(out=out, err=io.StringIO())
    assert confirm(console, "Do it?", stdin=io.StringIO(typed)) is approved
    assert out.getvalue().endswith("Enter a value: ")


# --- colour ---------------------------------------------------------------------------------


class FakeTty(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(
    ("tty", "env", "expected"),
    [
        (True, {}, True),
        (False, {}, False),
        (True, {"NO_COLOR": "1"}, False),
        (True, {"NO_COLOR": ""}, True),  # no-color.org: only a non-empty value counts
        (True, {"TERM": "dumb"}, False),
        (True, {"TERM": "xterm-256color"}, True),
    ],
)
def test_should_color(tty: bool, env: dict[str, str], expected: bool) -> None:
    assert should_color(FakeTty(tty), env) is expected


def test_should_color_is_false_for_a_closed_stream() -> None:
    stream = io.StringIO()
    stream.close()
    assert should_color(stream, {}) is False


def test_no_color_flag_wins_over_a_terminal() -> None:
    assert should_color(FakeTty(True), {}, no_color_flag=True) is False


def test_redactor_replaces_every_occurrence_and_ignores_short_values() -> None:
    redact = Redactor(["s3cr3t-key", "ab"])
    assert redact("key=s3cr3t-key and s3cr3t-key; ab") == "key=*** and ***; ab"


def test_a_key_with_surrounding_whitespace_is_still_redacted() -> None:
    from reconciler.commands.common import Session, Settings

    with Session(Settings(env={"SPLX_API_KEY": "sk-secret-123\n"})) as session:
        assert session.redact("key is sk-secret-123 here") == "key is *** here"


# --- refresh progress -------------------------------------------------------------------------


class _Read:
    def __init__(self, error: str | None = None) -> None:
        self.error = error


def test_refresh_progress_draws_a_line_on_a_terminal_and_erases_it() -> None:
    import io

    from reconciler.ui import Console, RefreshProgress
    from tests.polling import wait_until

    err = io.StringIO()
    progress = RefreshProgress(Console(err=err), 3, live=True, delay=0.0, interval=0.01)
    progress(_Read())
    progress(_Read("status of 'b' (run 2): 500"))
    wait_until(lambda: "Reading run status: 2/3, 1 could not be read" in err.getvalue())
    progress.finish()
    progress.finish()  # twice is fine
    assert err.getvalue().endswith("\r\x1b[2K")


def test_refresh_progress_is_silent_off_a_terminal_and_when_quick() -> None:
    import io

    from reconciler.ui import Console, RefreshProgress

    for live, delay in ((False, 0.0), (True, 60.0)):
        err = io.StringIO()
        progress = RefreshProgress(Console(err=err), 2, live=live, delay=delay)
        progress(_Read())
        progress.finish()
        assert err.getvalue() == ""
