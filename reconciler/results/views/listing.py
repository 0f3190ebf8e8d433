"""A run's findings as every view lists them: new, then known, then fixed, each with its probe's
name and the probe run's link, and the messages when they were read now.

Markdown, JUnit and the report render these lines; none of them matches a finding to its probe
run or builds a link on its own. Messages (test case content) are attached here because they
are in memory anyway; whether a view shows them is the view's ``include_content`` parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from reconciler.results.findings import FindingRecord
from reconciler.results.findings_read import Finding, Message
from reconciler.results.links import probe_run_url, run_url
from reconciler.results.model import ProbeRunResult, RunResult
from reconciler.results.summary import ResultRow

#: Characters of one message shown with ``include_content`` unless told otherwise.
DEFAULT_CONTENT_LIMIT: Final = 500
NEW: Final = "new"
KNOWN: Final = "known"
FIXED: Final = "fixed"


@dataclass(frozen=True)
class Listed:
    """One finding of a run as a view lists it."""

    state: str  # NEW, KNOWN or FIXED
    record: FindingRecord
    #: The probe's name (from the run's status, else the export, else ``probe {id}``).
    probe: str
    #: The probe run's results tab, or the run's link when the probe run is not known.
    url: str
    #: Read now, in memory only; empty when the findings came from state.
    messages: tuple[Message, ...] = ()


def listed(row: ResultRow, *, fixed: bool = True) -> list[Listed]:
    """New, known and (with ``fixed``) fixed findings of ``row``, in that order; empty when
    its findings are not known."""
    diff = row.findings.diff if row.findings is not None else None
    if diff is None or row.findings is None:
        return []
    read = row.findings.read
    current = _Probes(row, row.result)
    items = [
        Listed(
            state, record, *current.name_and_url(record), _messages(read.get(record.fingerprint))
        )
        for state, records in ((NEW, diff.new), (KNOWN, diff.known))
        for record in records
    ]
    if fixed:
        # A fixed finding was seen in the previous run: its link is that run's probe run.
        earlier = _Probes(row, row.previous)
        items += [Listed(FIXED, r, *earlier.name_and_url(r)) for r in diff.fixed]
    return items


def of_probe_run(items: list[Listed], probe_run: ProbeRunResult) -> list[Listed]:
    """The current run's findings of one probe run (fixed ones are not the run's)."""
    return [
        item
        for item in items
        if item.state != FIXED
        and (
            item.record.probe_run_id == probe_run.probe_run_id
            if item.record.probe_run_id is not None and probe_run.probe_run_id is not None
            else item.record.probe_id == probe_run.probe_id
        )
    ]


def run_line(row: ResultRow) -> str:
    """``4 failed (3 new, 1 known; 2 fixed)``: the words each view puts on a run."""
    failed = f"{row.counts.failed} failed"
    findings = row.findings
    if findings is None:
        return failed
    if findings.diff is not None:
        return f"{failed} ({findings.diff.describe()})"
    why = findings.error or findings.not_read or "not read"
    return f"{failed} (findings not known: {why})"


def previous_run_url(row: ResultRow) -> str | None:
    """The link of the run ``row``'s findings were compared with (where fixed ones were seen)."""
    if row.previous is None:
        return None
    return run_url(_platform(row), row.workspace_id, row.target_id, row.previous.test_run_id)


def cut(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, saying how much was left out when it was cut."""
    if len(text) <= limit:
        return text
    return f"{text[: max(limit, 0)]}… [cut: {len(text) - max(limit, 0)} more characters]"


def _messages(found: Finding | None) -> tuple[Message, ...]:
    return found.messages if found is not None else ()


class _Probes:
    """Probe names and links of one run's probe runs, by probe run id and by probe id."""

    def __init__(self, row: ResultRow, result: RunResult | None) -> None:
        self.row = row
        self.run_id = result.test_run_id if result is not None else row.test_run_id
        runs = result.probe_runs if result is not None else ()
        self.by_run = {p.probe_run_id: p for p in runs if p.probe_run_id is not None}
        self.by_probe = {p.probe_id: p for p in runs if p.probe_id is not None}
        self.platform = _platform(row)

    def name_and_url(self, record: FindingRecord) -> tuple[str, str]:
        probe_run = (
            self.by_run.get(record.probe_run_id) if record.probe_run_id is not None else None
        ) or (self.by_probe.get(record.probe_id) if record.probe_id is not None else None)
        read = self.row.findings.read.get(record.fingerprint) if self.row.findings else None
        if probe_run is not None:
            name = probe_run.probe_name
        elif read is not None and read.probe_name:
            name = read.probe_name
        else:
            name = f"probe {record.probe_id if record.probe_id is not None else '?'}"
        probe_run_id = record.probe_run_id or (probe_run.probe_run_id if probe_run else None)
        workspace, target = self.row.workspace_id, self.row.target_id
        if probe_run_id is None:
            return name, run_url(self.platform, workspace, target, self.run_id)
        run = run_url(self.platform, workspace, target, self.run_id)
        return name, probe_run_url(run, probe_run_id)


def _platform(row: ResultRow) -> str:
    # The row carries the run's link, not the platform: take the platform back off it.
    return row.url.removesuffix(run_url("", row.workspace_id, row.target_id, row.test_run_id))
