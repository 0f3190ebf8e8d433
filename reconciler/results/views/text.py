"""``reconciler status`` as text: a small block per run, the runs still going first.

::

    chatbot-jailbreak: Running, run 5678, 3 passed, 1 failed, 0 errored of 12
      https://probe.splx.ai/w/1234/target/42/test-runs/5678
    support-bot: Finished, run 5679, 10 passed, 2 failed, 0 errored of 12, gate failed
      - 2 failed test cases, at most 0 allowed
      https://probe.splx.ai/w/1234/target/43/test-runs/5679

    2 runs: 0 passed, 1 failed, 1 still going.

Pure: the caller prints the string. ``color`` adds ANSI colours to status words and verdicts.
"""

from __future__ import annotations

from collections.abc import Callable

from reconciler.results.gate import Outcome
from reconciler.results.model import CANCELED, ERROR, FINISHED
from reconciler.results.summary import ResultRow, ResultSet
from reconciler.results.views.findings_text import failed_words
from reconciler.results.views.tally import Tally, tally

Paint = Callable[[str, str], str]

_CODES = {"red": "31", "green": "32", "yellow": "33", "dim": "2"}


def _painter(color: bool) -> Paint:
    def paint(text: str, colour: str) -> str:
        return f"\x1b[{_CODES[colour]}m{text}\x1b[0m" if color else text

    return paint


def render_status(results: ResultSet, *, color: bool = False) -> str:
    """Every row of ``results`` (not ended first), then the summary line."""
    paint = _painter(color)
    lines: list[str] = []
    for row in results.not_ended_first():
        lines += _row_lines(row, paint)
    if lines:
        lines.append("")
    lines.append(summary_line(tally(results)))
    return "\n".join(lines) + "\n"


def summary_line(counts: Tally) -> str:
    """``3 runs: 1 passed, 1 failed, 1 still going.`` (``not read`` and ``gone`` when any)."""
    if counts.runs == 0:
        return "No tracked runs to show."
    parts = [
        f"{counts.passed} passed",
        f"{counts.failed} failed",
        f"{counts.still_going} still going",
    ]
    if counts.unreadable:
        parts.append(f"{counts.unreadable} not read")
    if counts.gone:
        parts.append(f"{counts.gone} gone")
    runs = f"{counts.runs} run{'s' if counts.runs != 1 else ''}"
    return f"{runs}: {', '.join(parts)}."


def _row_lines(row: ResultRow, paint: Paint) -> list[str]:
    head = f"{row.key}: {_status_word(row, paint)}, run {row.test_run_id}"
    if row.result is not None:
        counts = row.counts
        head += f", {counts.passed} passed, {failed_words(row)}, {counts.errored} errored of "
        head += f"{counts.total}"
    verdict = _verdict_word(row, paint)
    if verdict:
        head += f", {verdict}"
    lines = [head]
    if row.gone:
        lines.append("  the run no longer exists on the platform (the API answered 404)")
    elif row.error is not None:
        lines.append(f"  not read: {_strip_prefix(row.error)}")
    if row.findings is not None and row.findings.error is not None:
        lines.append(f"  findings not read: {row.findings.error}")
    if row.verdict.failed and not row.gone:
        lines += [f"  - {reason}" for reason in row.verdict.reasons]
    lines += [f"  note: {note}" for note in row.verdict.notes]
    lines.append(f"  {row.url}")
    return lines


def _strip_prefix(error: str) -> str:
    # The no-key stand-in already says "not read: ..."; API errors do not.
    return error.removeprefix("not read: ")


def _status_word(row: ResultRow, paint: Paint) -> str:
    word = row.status
    if word == FINISHED:
        return paint(word, "green")
    if word in (ERROR, CANCELED) or row.gone:
        return paint(word, "red")
    if row.error is not None:
        return paint(word, "yellow")
    return word


def _verdict_word(row: ResultRow, paint: Paint) -> str:
    if row.verdict.undecided:
        # Failed closed: the findings it needs were not read (exit 1, not 3).
        return paint("gate not decided", "red")
    if row.verdict.outcome is Outcome.FAILED:
        return paint("gate failed", "red")
    if row.verdict.outcome is Outcome.PASSED:
        return paint("gate passed", "green")
    return ""
