"""A ``ResultSet`` as Markdown: the GitHub step summary of ``wait`` / ``apply --wait`` and
``status --format markdown`` (a PR comment).

The verdict comes first, then one table row per run: key, status, failed/total, gate, link.
Cells are escaped the way GitHub renders tables: ``|`` as ``\\|`` (it splits cells even in
code spans), HTML special characters as entities, a newline as ``<br>``. Pure.
"""

from __future__ import annotations

from reconciler.plan.render import _md_code, _md_text
from reconciler.results.gate import Outcome
from reconciler.results.summary import ResultRow, ResultSet
from reconciler.results.views.tally import tally


def verdict_line(results: ResultSet, *, waiting: bool) -> str:
    """``All 3 runs passed their gates.`` / ``1 of 3 runs failed its gate.`` / ..."""
    counts = tally(results)
    if counts.runs == 0:
        return "No tracked runs to show."
    runs = f"{counts.runs} run{'s' if counts.runs != 1 else ''}"
    if counts.failed:
        verb = "failed its gate" if counts.failed == 1 else "failed their gates"
        return f"{counts.failed} of {runs} {verb}."
    if counts.unreadable:
        return f"{counts.unreadable} of {runs} could not be read."
    pending = len(results.pending)
    if pending:
        still = "were still going when the wait ended" if waiting else "have not ended yet"
        return f"No gate failed; {pending} of {runs} {still}."
    return f"All {runs} passed their gates." if counts.runs != 1 else "The run passed its gate."


def render_markdown(results: ResultSet, *, waiting: bool = False, title: str = "") -> str:
    """Heading, verdict, table; rows failing first."""
    icon = "❌" if results.failed else "⏳" if results.pending else "✅"
    heading = title or "reconciler results"
    lines = [f"### {heading}", "", f"{icon} **{_md_text(verdict_line(results, waiting=waiting))}**"]
    if results.rows:
        lines += [
            "",
            "| run | status | failed/total | gate | link |",
            "| --- | --- | --- | --- | --- |",
        ]
        lines += [_row(row) for row in results.failing_first()]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return _md_text(text.replace("\r\n", "\n")).replace("\n", "<br>")


def _row(row: ResultRow) -> str:
    counts = row.counts
    failed = f"{counts.failed}/{counts.total}" if row.result is not None else "–"
    cells = [
        _md_code(row.key.replace("\n", " ")),
        _cell(row.status),
        failed,
        _gate(row),
        f"[run {row.test_run_id}]({row.url})",
    ]
    return "| " + " | ".join(cells) + " |"


def _gate(row: ResultRow) -> str:
    verdict = row.verdict
    if verdict.outcome is Outcome.FAILED:
        return "❌ failed: " + _cell("; ".join(verdict.reasons))
    if verdict.outcome is Outcome.PASSED:
        return "✅ passed"
    if row.error is not None:
        return "⚠️ not read"
    return "⏳ not ended"
