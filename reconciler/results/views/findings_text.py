"""``reconciler findings`` as text: per run, its findings grouped by probe, new first, then the
fixed ones.

::

    chatbot-jailbreak: run 1002, Finished, 4 failed (1 new, 3 known; 1 fixed), gate failed
      https://probe.splx.ai/w/1234/target/42/test-runs/1002
      Jailbreak (probe 101), https://probe.splx.ai/w/1234/target/42/test-runs/1002/probe/7?tab=results
        new    CTLO-101-7 (variation base64, strategy single-turn, red teamer Jailbreaker), ...
        known  CTLO-101-3 (...)
      fixed since run 1001:
        CTLO-101-2 (...), probe 101

    2 runs: 4 findings (1 new, 3 known), 1 fixed.

Every value from the API passes through ``untrusted.plain``; content (the messages) appears
only with ``include_content``, each message cut at ``content_limit`` characters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from reconciler.results.findings import FindingRecord
from reconciler.results.findings_read import Finding
from reconciler.results.summary import ResultRow, ResultSet
from reconciler.results.views.untrusted import plain


@dataclass(frozen=True)
class FindingsView:
    """What the findings views show: only new ones, and content (cut at ``content_limit``)."""

    new_only: bool = False
    include_content: bool = False
    content_limit: int = 500


#: What ``findings`` shows without options.
DEFAULT_VIEW: Final = FindingsView()


def render_findings_text(results: ResultSet, view: FindingsView = DEFAULT_VIEW) -> str:
    """Every row of ``results`` in key order, then a summary line."""
    lines: list[str] = []
    for row in results.rows:
        lines += _row_lines(row, view)
        lines.append("")
    lines.append(summary_line(results))
    return "\n".join(lines) + "\n"


def summary_line(results: ResultSet) -> str:
    """``3 runs: 5 findings (2 new, 3 known), 1 fixed; 1 run's findings not known.``"""
    if not results.rows:
        return "No tracked runs to show."
    new = known = fixed = unknown = 0
    for row in results.rows:
        findings = row.findings
        if findings is None:
            continue
        if findings.diff is None:
            unknown += 1
            continue
        new += findings.diff.new_count
        known += findings.diff.known_count
        fixed += findings.diff.fixed_count
    runs = f"{len(results.rows)} run{'s' if len(results.rows) != 1 else ''}"
    text = f"{runs}: {new + known} finding{'s' if new + known != 1 else ''} ({new} new, "
    text += f"{known} known), {fixed} fixed"
    if unknown:
        text += f"; the findings of {unknown} run{'s' if unknown != 1 else ''} are not known"
    return text + "."


def failed_words(row: ResultRow) -> str:
    """``4 failed (3 new, 1 known; 2 fixed)``: the words ``status`` and ``wait`` show."""
    failed = f"{row.counts.failed} failed"
    findings = row.findings
    if findings is None:
        return failed
    diff = findings.diff
    if diff is not None and (diff.total or diff.fixed_count):
        return f"{failed} ({diff.describe()})"
    if diff is None and findings.error is not None:
        return f"{failed} (findings not read)"
    return failed


def _row_lines(row: ResultRow, view: FindingsView) -> list[str]:
    head = f"{row.key}: run {row.test_run_id}, {plain(row.status)}"
    if row.result is not None:
        head += f", {failed_words(row)}"
    if row.verdict.failed:
        head += ", gate failed"
    elif row.verdict.passed:
        head += ", gate passed"
    lines = [head, f"  {row.url}"]
    findings = row.findings
    if findings is None:
        lines.append("  not ended: no findings yet" if row.error is None else "  not read")
        return lines
    diff = findings.diff
    if diff is None:
        # One line: the read's error is the reason they are not known, said once.
        lines.append(f"  findings not known: {findings.error or findings.not_read or 'not read'}")
        return lines
    if findings.error is not None:
        lines.append(f"  could not read all findings: {findings.error}")
    if not diff.determined:
        lines.append(f"  new and known cannot be told apart: {diff.undetermined_because}")
    if diff.previous_run_id is not None:
        lines.append(f"  compared with run {diff.previous_run_id}")
    listed = [(r, "new") for r in diff.new]
    if not view.new_only:
        listed += [(r, "known") for r in diff.known]
    lines += _by_probe(row, listed, findings.read, view)
    if diff.more:
        lines.append(f"  and {diff.more} more findings not recorded (only the first are kept)")
    if diff.fixed and not view.new_only:
        lines.append(f"  fixed since run {diff.previous_run_id}:")
        lines += [f"    {plain(r.label())}, {_probe(row, r)}" for r in diff.fixed]
    if not listed and not (diff.fixed and not view.new_only):
        lines.append("  no new findings" if view.new_only else "  no findings")
    return lines


def _by_probe(
    row: ResultRow,
    listed: list[tuple[FindingRecord, str]],
    read: dict[str, Finding],
    view: FindingsView,
) -> list[str]:
    lines: list[str] = []
    groups: dict[tuple[int | None, int | None], list[tuple[FindingRecord, str]]] = {}
    for record, word in listed:
        groups.setdefault((record.probe_id, record.probe_run_id), []).append((record, word))
    for (_, probe_run_id), members in sorted(groups.items(), key=lambda g: _order(g[0])):
        first = members[0][0]
        lines.append(f"  {_probe(row, first)}, {row.probe_url(probe_run_id)}")
        # New first within a probe: the order every view keeps.
        for record, word in sorted(members, key=lambda m: m[1] != "new"):
            lines.append(f"    {word:<6} {_finding(record)}")
            content = read.get(record.fingerprint)
            if view.include_content and content is not None:
                lines += [
                    f"           {plain(m.role.lower())}: {plain(m.content, view.content_limit)}"
                    for m in content.messages
                ]
    return lines


def _order(key: tuple[int | None, int | None]) -> tuple[int, int]:
    probe_id, probe_run_id = key
    return (probe_id if probe_id is not None else -1, probe_run_id or -1)


def _probe(row: ResultRow, record: FindingRecord) -> str:
    name = row.probe_name(record)
    number = f"probe {record.probe_id}" if record.probe_id is not None else "probe"
    return f"{plain(name)} ({number})" if name else number


def _finding(record: FindingRecord) -> str:
    text = plain(record.label())
    extras = []
    if record.detected_at:
        extras.append(f"detected {plain(record.detected_at)}")
    if record.occurrences > 1:
        extras.append(f"{record.occurrences} test cases")
    return f"{text}, {', '.join(extras)}" if extras else text
