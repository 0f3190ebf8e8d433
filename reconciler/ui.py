"""Terminal output: colour decisions, secret redaction, confirmation, live progress.

Only the CLI layer uses this module. Everything it prints passes through ``Console``, which
removes the API key from any text as a last line of defence (the key should never reach a
message in the first place).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TextIO

from reconciler.apply import Outcome, ProgressEvent

REDACTED = "***"


def should_color(stream: TextIO, env: Mapping[str, str], *, no_color_flag: bool = False) -> bool:
    """Colour only on a terminal, never with NO_COLOR (https://no-color.org) or --no-color."""
    if no_color_flag or env.get("NO_COLOR", "") != "" or env.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or fake stream is not a terminal
        return False


class Redactor:
    """Replaces known secret values in text."""

    def __init__(self, secrets: list[str]) -> None:
        # Short values would redact innocent text and are not worth protecting this way.
        self._secrets = [s for s in secrets if len(s) >= 4]

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


class RedactingFilter(logging.Filter):
    """A logging filter that redacts secrets from every record, arguments included."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self._redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._redact(record.getMessage())
        record.args = None
        return True


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

    def info(self, text: str) -> None:
        """Progress chatter: suppressed by --quiet."""
        if not self.quiet:
            self._write(self.err_stream, text, True)

    def err(self, text: str) -> None:
        self._write(self.err_stream, text, True)

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


class ProgressReporter:
    """Shows apply progress: a live status line on a terminal, a line per operation elsewhere.

    Called from worker threads; all state is guarded by one lock.
    """

    def __init__(self, console: Console, total: int, *, live: bool, verbose: bool = False) -> None:
        self._console = console
        self._total = total
        self._live = live and not console.quiet
        self._verbose = verbose
        self._lock = threading.Lock()
        self._done = 0
        self._failed = 0
        self._inflight = 0
        self._started = time.monotonic()
        self._last_draw = 0.0

    def __call__(self, event: ProgressEvent) -> None:
        with self._lock:
            if event.kind == "started":
                self._inflight += 1
            elif event.result is not None:
                self._inflight -= 1
                self._done += 1
                if not event.result.outcome.ok:
                    self._failed += 1
                self._report(event)
            if self._live:
                self._draw(force=self._done == self._total)

    def _report(self, event: ProgressEvent) -> None:
        result = event.result
        assert result is not None  # finished events carry a result
        failed = not result.outcome.ok
        if self._live and not failed and not self._verbose:
            return
        if self._console.quiet and not failed:
            return
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        marker = {
            Outcome.TRIGGERED: "+",
            Outcome.REPLACED: "±",
            Outcome.CANCELLED: "-",
            Outcome.NOTHING_TO_CANCEL: "-",
        }.get(result.outcome, "!")
        text = f"{stamp} {marker} {result.key}: {result.outcome.value}"
        if result.test_run_id is not None and result.outcome in (
            Outcome.TRIGGERED,
            Outcome.REPLACED,
        ):
            text += f" (testRunId {result.test_run_id})"
        if result.message:
            text += f": {result.message}"
        if self._live:
            text = "\r\x1b[2K" + text
        self._console.err(text)

    def _draw(self, *, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        elapsed = max(now - self._started, 1e-6)
        rate = self._done / elapsed
        left = self._total - self._done
        eta = f"{left / rate:.0f}s" if rate > 0 and left else "-"
        line = (
            f"\r\x1b[2K{self._done}/{self._total} done, {self._failed} failed, "
            f"{self._inflight} in flight, {rate:.1f}/s, {eta} left"
        )
        with self._console._lock:  # the same lock as line writes, so lines never interleave
            self._console.err_stream.write(line + ("\n" if force else ""))
            self._console.err_stream.flush()


def is_ci(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return env.get("CI", "").lower() in ("1", "true", "yes")
