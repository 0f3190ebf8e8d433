"""``wait`` and the waiting half of ``apply --wait``: poll until runs end, then gate them.

Exit codes (PRODUCT.md, "Results"): 0 every selected run ended and passed its gate; 3 at least
one failed its gate; 4 the timeout passed with runs still going and none failed; 1 an error,
including runs whose status could not be read when the wait ended (named); 130 Ctrl-C or
SIGTERM, after recording what was learned.

Everything that can be refused is refused before the first poll: a ``--junit`` path in a
missing or read-only directory fails at once, not after two hours.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Final

from reconciler import logs
from reconciler.commands.common import Session, gates_of
from reconciler.commands.outputs import check_writable, say_undecided, write_sarif
from reconciler.commands.reading import (
    FindingsWanted,
    NoReads,
    open_selection,
    read_findings_of,
    record_learned,
)
from reconciler.durations import format_seconds
from reconciler.errors import UsageError
from reconciler.ui import Console

if TYPE_CHECKING:
    from reconciler.reading.wait import StatusChange, WaitOutcome, WaitProgress
    from reconciler.results.gate import Gate
    from reconciler.results.summary import ResultSet
    from reconciler.spec.model import DesiredSet
    from reconciler.state.model import TrackedRun
    from reconciler.state.store import StateStore

log = logs.Log("reconciler.cli")

EXIT_OK: Final = 0
EXIT_ERROR: Final = 1
EXIT_INTERRUPTED: Final = 130
STEP_SUMMARY_ENV: Final = "GITHUB_STEP_SUMMARY"


@dataclass(frozen=True)
class WaitSettings:
    """The options ``wait`` and ``apply --wait`` share."""

    timeout: float = 7200.0
    interval: float = 30.0
    junit: str | None = None
    fmt: str = "text"
    parallelism: int = 10
    #: ``--sarif FILE``: the findings as SARIF 2.1.0 (GitHub code scanning).
    sarif: str | None = None
    #: Read the findings of runs that ended with failures (``--no-findings``: do not).
    findings: bool = True

    def check(self) -> None:
        """Refuse what cannot work before anything is sent or waited for."""
        if self.interval <= 0:
            raise UsageError("--interval must be more than 0 (e.g. 30s)")
        if self.fmt not in ("text", "json"):
            raise UsageError(f"--format {self.fmt}: use text or json")
        if self.parallelism < 1:
            raise UsageError(f"--parallelism must be at least 1, got {self.parallelism}")
        if self.junit is not None:
            check_writable(self.junit, "--junit")
        if self.sarif is not None:
            check_writable(self.sarif, "--sarif")


def wait(session: Session, paths: Sequence[str], targets: Sequence[str], opts: WaitSettings) -> int:
    """``reconciler wait``: every selected tracked run (default: all) until it ends."""
    opts.check()
    desired, store, runs = open_selection(session, paths, targets)
    gates = gates_of(session.settings, desired, runs)
    return wait_for(session, store, runs, gates, opts, desired=desired)


def wait_for(
    session: Session,
    store: StateStore,
    runs: Mapping[str, TrackedRun],
    gates: Mapping[str, Gate],
    opts: WaitSettings,
    *,
    desired: DesiredSet | None = None,
    nothing: str = "No tracked runs to wait for.",
) -> int:
    """Wait for ``runs``, record their results, gate them, report; the exit code.
    ``nothing`` is said when ``runs`` is empty (the reports are written all the same: a CI
    job that publishes the JUnit file must find one)."""
    from reconciler.reading.refresh import needs_read
    from reconciler.results.observation import Refresh
    from reconciler.results.summary import build_results
    from reconciler.state.model import utc_now

    console = session.console
    platform = session.platform_url()
    if not runs:
        console.out(nothing)
        empty = build_results(Refresh(), {}, platform=platform, read_at=utc_now())
        return EXIT_ERROR if _write_reports(session, empty, opts) else EXIT_OK
    to_read = sum(1 for run in runs.values() if needs_read(run))
    if to_read:
        session.check_api_settings()
    outcome = _poll(session, store, runs, opts, to_read=to_read)
    context, found = read_findings_of(
        session, outcome.refresh, desired, opts.parallelism, FindingsWanted(opts.findings)
    )
    if found:
        record_learned(session, store, Refresh(), operation="wait", findings=found)
    results = build_results(
        outcome.refresh, gates, platform=platform, read_at=utc_now(), findings=context
    )
    _show(console, results, opts.fmt, outcome)
    code = _exit_code(console, results, outcome, opts)
    failed_write = _write_reports(session, results, opts)
    if outcome.unrecorded:
        console.warn(
            f"{outcome.unrecorded} final result{'s were' if outcome.unrecorded != 1 else ' was'}"
            f" not recorded ({outcome.not_recorded_because}); the next status, wait or plan "
            "reads and records them."
        )
    return EXIT_ERROR if failed_write and code == EXIT_OK else code


def _poll(
    session: Session,
    store: StateStore,
    runs: Mapping[str, TrackedRun],
    opts: WaitSettings,
    *,
    to_read: int,
) -> WaitOutcome:
    from reconciler import collector
    from reconciler.reading.wait import Waiter, WaitOptions
    from reconciler.ui import live_progress_wanted

    # A wait may poll for hours: its requests make cycles that must be collected.
    collector.resume()

    console = session.console
    live = live_progress_wanted(console.err_stream, session.settings.env)
    view = WaitView(console, live=live)
    options = WaitOptions(
        timeout=opts.timeout, interval=opts.interval, parallelism=opts.parallelism
    )
    if to_read:
        console.info(
            f"Waiting for {to_read} run{'s' if to_read != 1 else ''} to end (timeout "
            f"{_span(opts.timeout)}, reading each every {_span(opts.interval)} or more)."
        )
    client = session.client(parallelism=opts.parallelism) if to_read else NoReads()
    waiter = Waiter(
        client,
        runs,
        options=options,
        store=store,
        sleep=view.sleep,
        on_change=view.changed,
        on_round=view.round,
    )
    view.progress = waiter.progress
    try:
        with _interrupts_raise():
            return waiter.run()
    finally:
        view.finish()
        client.close()


@contextmanager
def _interrupts_raise() -> Iterator[None]:
    """SIGTERM (a CI job cancelled) stops the wait like Ctrl-C: record, report, exit 130."""

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _span(seconds: float) -> str:
    """A duration as given on the command line: ``250ms`` below a second."""
    return f"{seconds * 1000:.0f}ms" if 0 < seconds < 1 else format_seconds(seconds)


class WaitView:
    """Progress of a wait on stderr.

    On a terminal: one line redrawn about once a second, ``waiting: 3/10 runs ended, 1,204 of
    5,000 test cases, 2m05s``. Elsewhere (CI, pipes): one timestamped line each time a run
    changes status, nothing in between. ``--quiet`` shows neither.
    """

    def __init__(self, console: Console, *, live: bool) -> None:
        self._console = console
        self._live = live and not console.quiet
        self._plain = not live and not console.quiet
        self._drawn = False
        self.progress: Callable[[], WaitProgress] | None = None

    def sleep(self, seconds: float) -> None:
        """Sleep, redrawing the live line each second so the time waited moves."""
        if not self._live:
            time.sleep(seconds)
            return
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            time.sleep(min(1.0, left))
            self._draw()

    def changed(self, change: StatusChange) -> None:
        if not self._plain and not (self._live and change.observation.ended):
            return
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        before = f"{change.before} → " if change.before else ""
        result = change.observation.result
        counts = f" ({result.counts.describe()})" if result is not None and result.ended else ""
        self._line(f"{stamp} {change.key}: {before}{change.after}{counts}")

    def round(self, _progress: WaitProgress) -> None:
        self._draw()

    def _draw(self) -> None:
        if not self._live or self.progress is None:
            return
        p = self.progress()
        cases = f", {p.cases_done:,} of {p.cases_total:,} test cases" if p.cases_total else ""
        unread = f", {p.unreadable} not read" if p.unreadable else ""
        text = f"waiting: {p.ended}/{p.total} runs ended{cases}{unread}, {format_seconds(p.waited)}"
        self._console.err("\r\x1b[2K" + text, nl=False)
        self._drawn = True

    def _line(self, text: str) -> None:
        prefix = "\r\x1b[2K" if self._drawn else ""
        self._drawn = False
        self._console.err(prefix + text)
        self._draw()

    def finish(self) -> None:
        if self._drawn:
            self._console.err("\r\x1b[2K", nl=False)
            self._drawn = False


def _show(console: Console, results: ResultSet, fmt: str, outcome: WaitOutcome) -> None:
    if fmt == "json":
        from reconciler.results.views.json import render_status_json

        console.out(render_status_json(results, indent=console.out_is_terminal()), nl=False)
        return
    from reconciler.results.views.verdict import render_verdict

    console.out(
        render_verdict(
            results, waited=outcome.waited, timed_out=outcome.timed_out, color=console.color
        ),
        nl=False,
    )


def _exit_code(
    console: Console, results: ResultSet, outcome: WaitOutcome, opts: WaitSettings
) -> int:
    if outcome.interrupted:
        console.err("Interrupted: the results read so far are recorded; nothing was cancelled.")
        return EXIT_INTERRUPTED
    code = results.exit_code(waiting=True)
    if results.undecided and code == EXIT_ERROR:
        say_undecided(console, results)
        return code
    if code != EXIT_OK and results.failed:
        return code
    unread = results.unreadable
    if unread:
        names = ", ".join(row.key for row in unread[:10]) + (" ..." if len(unread) > 10 else "")
        console.error(
            f"could not read the status of {len(unread)} run{'s' if len(unread) != 1 else ''} "
            f"when the wait ended: {names} (the reasons are above). Try `reconciler wait` "
            "again later; results already read are recorded."
        )
        return EXIT_ERROR
    if code != EXIT_OK:
        going = [row.key for row in results.pending]
        names = ", ".join(going[:10]) + (" ..." if len(going) > 10 else "")
        console.error(
            f"timed out after {_span(opts.timeout)} with {len(going)} run"
            f"{'s' if len(going) != 1 else ''} still going: {names}. Wait longer with "
            "--timeout, or run `reconciler wait` again later."
        )
    return code


def _write_reports(session: Session, results: ResultSet, opts: WaitSettings) -> bool:
    """The JUnit file (an error if it cannot be written) and the GitHub step summary (a
    warning). True when the JUnit file could not be written."""
    console = session.console
    failed = False
    if opts.junit is not None:
        from reconciler.files import atomic_write
        from reconciler.results.views.junit import render_junit

        try:
            atomic_write(Path(opts.junit), render_junit(results))
        except OSError as exc:
            console.error(f"--junit {opts.junit}: could not write it ({exc.strerror or exc}).")
            failed = True
        else:
            log.info("wrote the JUnit report to %s", opts.junit)
    if opts.sarif is not None:
        failed = write_sarif(session, results, opts.sarif) or failed
    summary = session.settings.env.get(STEP_SUMMARY_ENV)
    if summary:
        append_step_summary(console, summary, results)
    return failed


def append_step_summary(console: Console, path: str, results: ResultSet) -> None:
    """Append the Markdown summary; a summary that cannot be written is only a warning."""
    from reconciler.results.views.markdown import render_markdown

    text = render_markdown(results, waiting=True)
    try:
        with Path(path).open("a", encoding="utf-8") as summary:
            summary.write(text + "\n")
    except OSError as exc:
        console.warn(
            f"{STEP_SUMMARY_ENV}={path}: could not append the summary ({exc.strerror or exc}); "
            "the verdict and exit code are unaffected."
        )
