"""Terminal output: colour decisions, secret redaction, confirmation, live progress.

Only the CLI layer uses this module. Everything it prints passes through ``Console``, which
removes the API key from any text as a last line of defence (the key should never reach a
message in the first place).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TextIO

from reconciler.durations import format_seconds
from reconciler.redact import REDACTED, RedactingFilter, Redactor

if TYPE_CHECKING:
    # Only apply shows progress: a plan, which also loads this module, does not import the
    # executor (and its thread pool machinery) for it.
    from reconciler.apply import OperationResult, ProgressEvent

# The redaction names are re-exported: the CLI layer takes its terminal helpers from here.
__all__ = [
    "REDACTED",
    "Console",
    "ProgressReporter",
    "RedactingFilter",
    "Redactor",
    "RefreshProgress",
    "confirm",
    "format_seconds",
    "is_ci",
    "live_progress_wanted",
    "should_color",
    "stdin_is_terminal",
]


def should_color(stream: TextIO, env: Mapping[str, str], *, no_color_flag: bool = False) -> bool:
    """Colour only on a terminal, never with NO_COLOR (https://no-color.org) or --no-color."""
    if no_color_flag or env.get("NO_COLOR", "") != "" or env.get("TERM") == "dumb":
        return False
    return is_terminal(stream)


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or fake stream is not a terminal
        return False


class Console:
    """Where the CLI writes: results to stdout, diagnostics to stderr."""

    def __init__(
        self,
        *,
        out: TextIO | None = None,
        err: TextIO | None = None,
        color: bool = False,
        quiet: bool = False,
        redact: Redactor | None = None,
    ) -> None:
        self.out_stream = out or sys.stdout
        self.err_stream = err or sys.stderr
        self.color = color
        self.quiet = quiet
        self.redact = redact or Redactor([])
        self._lock = threading.Lock()

    def out(self, text: str = "", *, nl: bool = True) -> None:
        self._write(self.out_stream, text, nl)

    def out_is_terminal(self) -> bool:
        """Whether results go to a person rather than to a file or a pipe (colour aside)."""
        return is_terminal(self.out_stream)

    def info(self, text: str) -> None:
        """Progress chatter: suppressed by --quiet."""
        if not self.quiet:
            self._write(self.err_stream, text, True)

    def err(self, text: str, *, nl: bool = True) -> None:
        self._write(self.err_stream, text, nl)

    def error(self, text: str) -> None:
        self.err(self.style("Error: ", "red", bold=True) + text)

    def warn(self, text: str) -> None:
        self.err(self.style("Warning: ", "yellow", bold=True) + text)

    def style(self, text: str, fg: str, *, bold: bool = False) -> str:
        if not self.color:
            return text
        codes = {"red": "31", "green": "32", "yellow": "33", "blue": "34", "cyan": "36"}
        prefix = ("1;" if bold else "") + codes.get(fg, "0")
        return f"\x1b[{prefix}m{text}\x1b[0m"

    def _write(self, stream: TextIO, text: str, nl: bool) -> None:
        with self._lock:
            stream.write(self.redact(text) + ("\n" if nl else ""))
            stream.flush()


def confirm(console: Console, question: str, stdin: TextIO | None = None) -> bool:
    """Terraform's rule: only the exact word 'yes' approves."""
    console.out(question)
    console.out("  Only 'yes' will be accepted to approve.\n")
    console.out("  Enter a value: ", nl=False)
    line = (stdin or sys.stdin).readline()
    return line.strip() == "yes"


def stdin_is_terminal() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def live_progress_wanted(stream: TextIO, env: Mapping[str, str]) -> bool:
    """A redrawn status line only on a real terminal: CI logs and dumb terminals would keep
    every redraw, so they get one plain line per operation instead."""
    if is_ci(env) or env.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


#: By the name of the ``reconciler.apply.Outcome``.
_MARKERS = {
    "TRIGGERED": "+",
    "REPLACED": "-/+",
    "CANCELLED": "-",
    "NOTHING_TO_CANCEL": "-",
}


class ProgressReporter:
    """Shows apply progress on stderr.

    Live (a terminal): one status line, redrawn in place, with done, failed, in flight, rate
    and time left; a failed operation gets a short line of its own above it (the summary
    repeats it with the whole message). Plain (CI, a pipe, or
    ``--verbose``): one timestamped line per finished operation. ``--quiet`` keeps only the
    failures. Call ``finish`` once the apply ends, so that the next output starts on a fresh
    line whatever happened (an interrupt leaves operations unfinished).

    Called from worker threads; all counters are guarded by one lock, and every write takes
    the console's lock, so a status redraw never splits a line.
    """

    def __init__(
        self,
        console: Console,
        total: int,
        *,
        live: bool,
        verbose: bool = False,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._console = console
        self._total = total
        self._live = live and not console.quiet and not verbose
        self._verbose = verbose
        self._clock = clock
        self._now = now
        self._lock = threading.Lock()
        self._done = 0
        self._failed = 0
        self._unknown = 0
        self._inflight = 0
        self._started = clock()
        self._last_draw: float | None = None
        self._line_open = False  # a status line is on screen without its newline
        self._finished = False

    def __call__(self, event: ProgressEvent) -> None:
        with self._lock:
            if event.kind == "started":
                self._inflight += 1
                if self._verbose and not self._console.quiet:
                    self._print(f"{self._stamp()} {event.key}: {event.action.value} started")
            elif event.result is not None:
                self._inflight = max(0, self._inflight - 1)
                self._done += 1
                if event.result.outcome.name == "UNKNOWN":
                    self._unknown += 1
                elif not event.result.outcome.ok:
                    self._failed += 1
                self._report(event.result)
            if self._live:
                self._draw(force=False)

    def finish(self) -> None:
        """Draw the final counts (live) and end the status line; safe to call twice."""
        with self._lock:
            if self._finished:
                return
            self._finished = True
            if self._live and self._last_draw is not None:
                self._draw(force=True)
            if self._line_open:
                self._write("\n")
                self._line_open = False

    def status_line(self) -> str:
        """The live status text, e.g. ``3/10 done, 1 failed, 2 in flight, 1.5/s, 5s left``
        (``N unknown`` joins it once a trigger's outcome is unknown)."""
        elapsed = max(self._clock() - self._started, 1e-6)
        rate = self._done / elapsed
        left = self._total - self._done
        if left <= 0:
            eta = f"took {format_seconds(elapsed)}"
        elif rate > 0:
            eta = f"{format_seconds(left / rate)} left"
        else:
            eta = "time left unknown"
        unknown = f", {self._unknown} unknown" if self._unknown else ""
        return (
            f"{self._done}/{self._total} done, {self._failed} failed{unknown}, "
            f"{self._inflight} in flight, {rate:.1f}/s, {eta}"
        )

    def _report(self, result: OperationResult) -> None:
        failed = not result.outcome.ok
        if self._console.quiet and not failed:
            return
        if self._live and not failed:
            return
        marker = _MARKERS.get(result.outcome.name) or self._console.style("!", "red", bold=True)
        text = f"{self._stamp()} {marker} {result.key}: {result.outcome.value}"
        if result.test_run_id is not None and result.outcome.name in ("TRIGGERED", "REPLACED"):
            text += f" (testRunId {result.test_run_id})"
        # A log keeps the whole message; on a terminal the summary repeats failures in full,
        # so the line above the status line stays one short line.
        if result.message and not self._live:
            text += f": {result.message}"
        self._print(text)
        if self._live:
            self._draw(force=True)  # put the status line back under the new line at once

    def _stamp(self) -> str:
        return self._now().strftime("%H:%M:%S")

    def _print(self, text: str) -> None:
        # On a terminal the status line is erased first and the text gets its own line.
        prefix = "\r\x1b[2K" if self._line_open else ""
        self._line_open = False
        self._write(prefix + text + "\n")

    def _draw(self, *, force: bool) -> None:
        now = self._clock()
        if not force and self._last_draw is not None and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        self._write("\r\x1b[2K" + self.status_line())
        self._line_open = True

    def _write(self, text: str) -> None:
        self._console.err(text, nl=False)


class RefreshProgress:
    """A status line on stderr while a command reads run statuses, on a terminal only,
    and only once the reading has taken more than ``delay`` seconds: a quick refresh shows
    nothing. Erased when done, so the plan starts on a clean line.

    Called (as ``on_observed``) from the refresh's worker threads, one call at a time; a
    thread of its own redraws the line so that it appears even while no answer has come.
    """

    def __init__(
        self,
        console: Console,
        total: int,
        *,
        live: bool,
        delay: float = 0.5,
        interval: float = 0.2,
    ) -> None:
        self._console = console
        self._total = total
        self._done = 0
        self._unreadable = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._drawn = False
        self._thread: threading.Thread | None = None
        if live and not console.quiet and total:
            self._thread = threading.Thread(
                target=self._redraw, args=(delay, interval), name="refresh-progress", daemon=True
            )
            self._thread.start()

    def __call__(self, observation: object) -> None:
        with self._lock:
            self._done += 1
            if getattr(observation, "error", None) is not None:
                self._unreadable += 1

    def status_line(self) -> str:
        """``Reading run status: 12/40, 1 could not be read``."""
        with self._lock:
            done, unreadable = self._done, self._unreadable
        tail = f", {unreadable} could not be read" if unreadable else ""
        return f"Reading run status: {done}/{self._total}{tail}"

    def _redraw(self, delay: float, interval: float) -> None:
        if self._stop.wait(delay):
            return
        while True:
            self._console.err("\r\x1b[2K" + self.status_line(), nl=False)
            self._drawn = True
            if self._stop.wait(interval):
                return

    def finish(self) -> None:
        """Stop redrawing and erase the line; safe to call twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._drawn:
            self._console.err("\r\x1b[2K", nl=False)
            self._drawn = False


def is_ci(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return env.get("CI", "").lower() in ("1", "true", "yes")
