"""``--junit FILE``: a ``ResultSet`` as JUnit XML, the test-report format CI systems read.

The mapping (docs/RESULTS.md, "JUnit mapping"), shaped like pytest's writer so GitLab, Jenkins
and the GitHub test-report actions show it the same way:

- one ``<testsuite>`` per run, named by its key, with ``testRunId``, ``url``, ``status``,
  ``workspaceId`` and ``targetId`` as ``<properties>``;
- one ``<testcase>`` per probe run (``classname`` the key, ``name`` the probe's name): a
  ``<failure>`` when it has failed test cases, else an ``<error>`` when it errored (status
  Error, or errored test cases), ``<skipped>`` when it was canceled or had not ended. A
  failure's message adds the probe run's findings ("4 failed test cases of 10: 3 new, 1
  known") and its text lists them, new first (attack, variation, strategy, red teamer, the
  probe run's link), with their messages only when ``include_content`` is given (each cut at
  ``content_limit`` characters);
- one more ``<testcase name="gate">`` per run: a ``<failure>`` listing the reasons when the
  gate failed, an ``<error>`` when the run's status could not be read, ``<skipped>`` while the
  run has not ended (a wait that timed out: there is no verdict to report, and the command's
  exit code 4 already says the wait did not finish).

Written as text with the standard library's ``xml.sax.saxutils`` escaping (``escape`` for
text, ``quoteattr`` for attributes: ``<``, ``&``, quotes, and newlines in attributes), after
replacing the characters XML 1.0 cannot carry at all (control characters a probe name might
hold) by U+FFFD. ``xml.etree.ElementTree`` was the first version: building and serialising
its tree took 0.7-1 s for 10,000 runs, against the 1 s budget of gating and writing them.
Pure: ``render_junit`` returns bytes; the tests parse it back with a JUnit reader.
"""

from __future__ import annotations

import re
from typing import Final
from xml.sax.saxutils import escape, quoteattr

from reconciler.results.gate import Outcome
from reconciler.results.model import CANCELED, ERROR, ProbeRunResult
from reconciler.results.summary import ResultRow, ResultSet
from reconciler.results.views.listing import (
    DEFAULT_CONTENT_LIMIT,
    NEW,
    Listed,
    cut,
    listed,
    of_probe_run,
)

#: Characters outside XML 1.0's Char production.
_NOT_XML: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
GATE_CASE: Final = "gate"


def _clean(text: str) -> str:
    # Most text is printable ASCII, which XML always carries: skip the regex for it.
    if text.isascii() and text.isprintable():
        return text
    return _NOT_XML.sub("\ufffd", text)


_ATTR_SPECIAL: Final = frozenset('&<>"')


def _attr(value: str) -> str:
    # The common case (printable ASCII without markup characters) needs no escaping at all;
    # skipping quoteattr for it halves the time of a 10,000-run report.
    if value.isascii() and value.isprintable() and _ATTR_SPECIAL.isdisjoint(value):
        return f'"{value}"'
    return quoteattr(_clean(value), {"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})


def _text(value: str) -> str:
    return escape(_clean(value))


def _tag(name: str, attrs: dict[str, str], text: str | None = None) -> str:
    """One element on one line: attributes and text escaped here, nothing else may be."""
    head = name + "".join(f" {key}={_attr(value)}" for key, value in attrs.items())
    if text is None:
        return f"<{head} />"
    return f"<{head}>{_text(text)}</{name}>"


class _Counts:
    def __init__(self) -> None:
        self.tests = self.failures = self.errors = self.skipped = 0

    def add(self, other: _Counts) -> None:
        self.tests += other.tests
        self.failures += other.failures
        self.errors += other.errors
        self.skipped += other.skipped

    def attrs(self) -> dict[str, str]:
        return {
            "tests": str(self.tests),
            "failures": str(self.failures),
            "errors": str(self.errors),
            "skipped": str(self.skipped),
            "time": "0",
        }


def render_junit(
    results: ResultSet,
    *,
    name: str = "reconciler",
    include_content: bool = False,
    content_limit: int = DEFAULT_CONTENT_LIMIT,
) -> bytes:
    """The whole document, UTF-8, with its XML declaration. Test case content (the messages
    of findings read now) only with ``include_content``."""
    total = _Counts()
    suites: list[str] = []
    content = content_limit if include_content else None
    for row in results.rows:
        total.add(_suite(row, suites, content))
    head = _tag("testsuites", {"name": name, **total.attrs()})[: -len(" />")] + ">"
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', head, *suites, "</testsuites>", ""]
    return "\n".join(lines).encode()


def _suite(row: ResultRow, out: list[str], content: int | None) -> _Counts:
    counts = _Counts()
    cases: list[str] = []
    probe_runs = row.result.probe_runs if row.result is not None else ()
    items = listed(row, fixed=False)
    for probe_run in probe_runs:
        found = _Found(row, of_probe_run(items, probe_run), content)
        cases.append(_probe_case(row.key, probe_run, counts, found))
    cases.append(_gate_case(row, counts))
    out.append(_tag("testsuite", {"name": row.key, **counts.attrs()})[: -len(" />")] + ">")
    out.append("  <properties>")
    for prop, value in (
        ("testRunId", str(row.test_run_id)),
        ("url", row.url),
        ("status", row.status),
        ("workspaceId", str(row.workspace_id)),
        ("targetId", str(row.target_id)),
    ):
        out.append("    " + _tag("property", {"name": prop, "value": value}))
    out.append("  </properties>")
    out.extend(cases)
    out.append("</testsuite>")
    return counts


def _case(key: str, name: str, inner: str | None = None) -> str:
    attrs = {"classname": key, "name": name, "time": "0"}
    if inner is None:
        return "  " + _tag("testcase", attrs)
    return "  " + _tag("testcase", attrs)[: -len(" />")] + ">" + inner + "</testcase>"


class _Found:
    """A probe run's findings as its failure says them: counts for the message, lines for
    the text."""

    def __init__(self, row: ResultRow, items: list[Listed], content: int | None) -> None:
        self.row = row
        self.items = items
        self.content = content

    def counts(self) -> str:
        """``: 3 new, 1 known``, or why there are none to count."""
        findings = self.row.findings
        diff = findings.diff if findings is not None else None
        if diff is None:
            return ""
        new = sum(1 for item in self.items if item.state == NEW)
        told = "" if diff.determined else " (new and known not told apart)"
        return f": {new} new, {len(self.items) - new} known{told}"

    def lines(self) -> list[str]:
        findings = self.row.findings
        out: list[str] = []
        if findings is not None and findings.diff is None:
            out.append(f"findings not known: {findings.error or findings.not_read or 'not read'}")
        elif findings is not None and findings.diff is not None:
            diff = findings.diff
            if not diff.determined:
                out.append(f"new and known not told apart: {diff.undetermined_because}")
            if diff.more:
                out.append(f"{diff.more} more findings of the run were counted, not recorded")
            if findings.error:
                out.append(f"some findings could not be read: {findings.error}")
        for item in self.items:
            out.append(f"{item.state}: {_finding_line(item)}")
            if self.content is not None:
                out += [_message(m.role, cut(m.content, self.content)) for m in item.messages]
        return out


def _message(role: str, text: str) -> str:
    # Indented under its finding, every line of it, so a message cannot pass for a finding.
    return f"  {role}: " + "\n    ".join(text.splitlines() or [""])


def _finding_line(item: Listed) -> str:
    record = item.record
    attack = record.attack if record.attack is not None else f"test case {record.test_case_id}"
    parts = [
        f"attack {' '.join(attack.split())}",
        *(
            f"{label} {' '.join(value.split())}"
            for label, value in (
                ("variation", record.variation),
                ("strategy", record.strategy),
                ("red teamer", record.red_teamer),
            )
            if value is not None
        ),
        item.url,
    ]
    return ", ".join(parts)


def _probe_case(key: str, probe_run: ProbeRunResult, counts: _Counts, found: _Found) -> str:
    counts.tests += 1
    tally = probe_run.counts
    name = probe_run.probe_name
    detail = f"{name}: {probe_run.status}, {tally.describe()} test cases"
    if tally.failed:
        cases = f"{tally.failed} failed test case{'s' if tally.failed != 1 else ''}"
        counts.failures += 1
        failure = {"message": f"{cases} of {tally.total}{found.counts()}", "type": "failed"}
        return _case(key, name, _tag("failure", failure, "\n".join([detail, *found.lines()])))
    if probe_run.status == ERROR or tally.errored:
        message = (
            f"{tally.errored} errored test case{'s' if tally.errored != 1 else ''}"
            if tally.errored
            else "the probe run ended in Error"
        )
        counts.errors += 1
        return _case(key, name, _tag("error", {"message": message, "type": "errored"}, detail))
    if probe_run.status == CANCELED or not probe_run.ended:
        counts.skipped += 1
        return _case(
            key, name, _tag("skipped", {"message": f"{probe_run.status}: {tally.describe()}"})
        )
    return _case(key, name)


def _gate_case(row: ResultRow, counts: _Counts) -> str:
    counts.tests += 1
    verdict = row.verdict
    if verdict.outcome is Outcome.FAILED:
        counts.failures += 1
        body = "\n".join([*verdict.reasons, *verdict.notes, row.url])
        failure = {"message": "gate failed: " + "; ".join(verdict.reasons), "type": "gate"}
        return _case(row.key, GATE_CASE, _tag("failure", failure, body))
    if row.error is not None:
        counts.errors += 1
        error = {"message": "status not read", "type": "unread"}
        return _case(row.key, GATE_CASE, _tag("error", error, f"{row.error}\n{row.url}"))
    if verdict.outcome is Outcome.PENDING:
        counts.skipped += 1
        skipped = {"message": f"no verdict: the run is {row.status}, not ended"}
        return _case(row.key, GATE_CASE, _tag("skipped", skipped))
    if verdict.notes:
        return _case(row.key, GATE_CASE, _tag("system-out", {}, "\n".join(verdict.notes)))
    return _case(row.key, GATE_CASE)
