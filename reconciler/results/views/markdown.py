"""A ``ResultSet`` as Markdown: the GitHub step summary of ``wait`` / ``apply --wait`` and
``status --format markdown`` (a PR comment).

The verdict comes first, then one table row per run: key, status, failed/total, gate, link.
Cells are escaped the way GitHub renders tables: ``|`` as ``\\|`` (it splits cells even in
code spans), HTML special characters as entities, a newline as ``<br>``.

Then, per failing run whose findings are known, a collapsed ``<details>`` whose summary says
"4 failed (3 new, 1 known; 2 fixed)" and whose body lists its first ``MAX_LISTED`` new
findings as a table (probe, attack, variation, strategy, red teamer, the probe run's link).
Those values come from the API: ``inert.md_inert`` makes them unable to render as markup or to
ping anyone. Messages only with ``include_content``, each cut at ``content_limit`` characters,
in a ``<pre>`` block the escaped text cannot close. The details are added while the whole text
stays within ``limit`` (a PR comment's budget); a note says how many were left out. Pure.
"""

from __future__ import annotations

from typing import Final

from reconciler.markdown import MARKDOWN_LIMIT, fit_blocks, md_code, md_text, utf16_units
from reconciler.results.gate import Outcome
from reconciler.results.summary import ResultRow, ResultSet
from reconciler.results.views.inert import md_inert, md_pre
from reconciler.results.views.listing import DEFAULT_CONTENT_LIMIT, NEW, Listed, cut, listed
from reconciler.results.views.listing import run_line as _run_line
from reconciler.results.views.tally import tally

#: New findings listed per failing run; the rest are counted.
MAX_LISTED: Final = 20


def verdict_line(results: ResultSet, *, waiting: bool) -> str:
    """``All 3 runs passed their gates.`` / ``1 of 3 runs failed its gate.`` / ..."""
    counts = tally(results)
    if counts.runs == 0:
        return "No tracked runs to show."
    runs = f"{counts.runs} run{'s' if counts.runs != 1 else ''}"
    if counts.failed:
        # A gate that failed closed (findings it needs not read) is not a run that failed
        # its gate: the exit code is 1, not 3, and the line says so.
        undecided = len(results.undecided)
        decided = counts.failed - undecided
        not_known = (
            "the gate of {} could not be decided (its findings were not read)"
            if undecided == 1
            else "the gates of {} could not be decided (their findings were not read)"
        )
        if not decided:
            return f"No gate failed; {not_known.format(f'{undecided} of {runs}')}."
        verb = "failed its gate" if decided == 1 else "failed their gates"
        line = f"{decided} of {runs} {verb}"
        return line + (f"; {not_known.format(f'{undecided} more')}." if undecided else ".")
    if counts.unreadable:
        return f"{counts.unreadable} of {runs} could not be read."
    pending = len(results.pending)
    if pending:
        still = "were still going when the wait ended" if waiting else "have not ended yet"
        return f"No gate failed; {pending} of {runs} {still}."
    return f"All {runs} passed their gates." if counts.runs != 1 else "The run passed its gate."


def render_markdown(
    results: ResultSet,
    *,
    waiting: bool = False,
    title: str = "",
    include_content: bool = False,
    content_limit: int = DEFAULT_CONTENT_LIMIT,
    limit: int = MARKDOWN_LIMIT,
) -> str:
    """Heading, verdict, table (rows failing first), then the new findings of each failing
    run within ``limit`` UTF-16 code units (the table itself is never cut)."""
    icon = "❌" if results.failed else "⏳" if results.pending else "✅"
    heading = title or "reconciler results"
    lines = [f"### {heading}", "", f"{icon} **{md_text(verdict_line(results, waiting=waiting))}**"]
    if results.rows:
        lines += [
            "",
            "| run | status | failed/total | gate | link |",
            "| --- | --- | --- | --- | --- |",
        ]
        lines += [_row(row) for row in results.failing_first()]
    text = "\n".join(lines) + "\n"
    failing = [row for row in results.failing_first() if row.verdict.failed and row.findings]
    blocks = [_details(row, include_content, content_limit) for row in failing]
    return _within(text, blocks, limit)


def _within(text: str, blocks: list[str], limit: int) -> str:
    """``text`` and as many ``blocks`` as fit in ``limit``, with a note when some did not."""
    if not blocks:
        return text
    note = (
        "\n> **Findings cut to fit:** the new findings of {kept} of {total} failing runs are "
        "shown; `reconciler findings` lists them all.\n"
    )
    budget = limit - utf16_units(note.format(kept=len(blocks), total=len(blocks)))
    fitted, kept = fit_blocks(text, blocks, budget)
    if kept < len(blocks):
        fitted += note.format(kept=kept, total=len(blocks))
    return fitted


def _details(row: ResultRow, include_content: bool, content_limit: int) -> str:
    """One failing run's collapsed block: its run line, then its first new findings."""
    summary = f"<code>{md_inert(row.key)}</code>: {md_inert(_run_line(row))}"
    body: list[str] = []
    findings = row.findings
    diff = findings.diff if findings is not None else None
    if findings is not None and findings.error is not None:
        body.append(f"_Some findings could not be read: {md_inert(findings.error)}_")
    if diff is not None and not diff.determined:
        why = md_inert(diff.undetermined_because or "")
        body.append(f"_New and known could not be told apart ({why}): all count as new._")
    new = [item for item in listed(row, fixed=False) if item.state == NEW]
    shown = new[:MAX_LISTED]
    if shown:
        table = [
            "| probe | attack | variation | strategy | red teamer | link |",
            "| --- | --- | --- | --- | --- | --- |",
            *(_finding_row(item) for item in shown),
        ]
        body.append("\n".join(table))
    elif diff is not None:
        body.append("No new findings.")
    more = diff.new_count - len(shown) if diff is not None else 0
    if more:
        body.append(f"and {more} more new finding{'s' if more != 1 else ''}")
    if include_content:
        body += [_content(item, content_limit) for item in shown if item.messages]
    inner = "\n\n".join(body)
    return f"<details><summary>{summary}</summary>\n\n{inner}\n\n</details>\n"


def _finding_row(item: Listed) -> str:
    record = item.record
    attack = record.attack if record.attack is not None else f"test case {record.test_case_id}"
    values = (item.probe, attack, record.variation, record.strategy, record.red_teamer)
    cells = [md_inert(value) if value else "–" for value in values]
    where = f"probe run {record.probe_run_id}" if record.probe_run_id is not None else "run"
    cells.append(f"[{where}]({item.url})")
    return "| " + " | ".join(cells) + " |"


def _content(item: Listed, limit: int) -> str:
    """A finding's messages as preformatted text: escaped so that it cannot close the block."""
    lines = [md_pre(item.record.label())]
    lines += [f"{md_pre(m.role)}: {md_pre(cut(m.content, limit))}" for m in item.messages]
    return "<pre>" + "\n".join(lines) + "</pre>"


def _cell(text: str) -> str:
    return md_text(text.replace("\r\n", "\n")).replace("\n", "<br>")


def _row(row: ResultRow) -> str:
    counts = row.counts
    failed = f"{counts.failed}/{counts.total}" if row.result is not None else "–"
    cells = [
        md_code(row.key.replace("\n", " ")),
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
