"""``--junit FILE``: a ``ResultSet`` as JUnit XML, the test-report format CI systems read.

The mapping (docs/RESULTS.md, "JUnit mapping"), shaped like pytest's writer so GitLab, Jenkins
and the GitHub test-report actions show it the same way:

- one ``<testsuite>`` per run, named by its key, with ``testRunId``, ``url``, ``status``,
  ``workspaceId`` and ``targetId`` as ``<properties>``;
- one ``<testcase>`` per probe run (``classname`` the key, ``name`` the probe's name): a
  ``<failure>`` when it has failed test cases, else an ``<error>`` when it errored (status
  Error, or errored test cases), ``<skipped>`` when it was canceled or had not ended;
- one more ``<testcase name="gate">`` per run: a ``<failure>`` listing the reasons when the
  gate failed, an ``<error>`` when the run's status could not be read, ``<skipped>`` while the
  run has not ended (a wait that timed out: there is no verdict to report, and the command's
  exit code 4 already says the wait did not finish).

Built with ``xml.etree.ElementTree`` from the standard library: it escapes ``<``, ``&`` and
quotes in text and attributes; characters XML 1.0 cannot carry at all (control characters a
probe name might hold) are replaced by U+FFFD first. Pure: ``render_junit`` returns bytes.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Final

from reconciler.results.gate import Outcome
from reconciler.results.model import CANCELED, ERROR, ProbeRunResult
from reconciler.results.summary import ResultRow, ResultSet

#: Characters outside XML 1.0's Char production.
_NOT_XML: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
GATE_CASE: Final = "gate"


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: _clean(v) for k, v in attrs.items()})
    if text is not None:
        element.text = _clean(text)
    return element


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


def render_junit(results: ResultSet, *, name: str = "reconciler") -> bytes:
    """The whole document, UTF-8, with its XML declaration."""
    root = ET.Element("testsuites", {"name": name})
    total = _Counts()
    for row in results.rows:
        total.add(_suite(root, row))
    for key, value in total.attrs().items():
        root.set(key, value)
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"


def _suite(root: ET.Element, row: ResultRow) -> _Counts:
    suite = _sub(root, "testsuite", name=row.key)
    properties = _sub(suite, "properties")
    for prop, value in (
        ("testRunId", str(row.test_run_id)),
        ("url", row.url),
        ("status", row.status),
        ("workspaceId", str(row.workspace_id)),
        ("targetId", str(row.target_id)),
    ):
        _sub(properties, "property", name=prop, value=value)
    counts = _Counts()
    probe_runs = row.result.probe_runs if row.result is not None else ()
    for probe_run in probe_runs:
        _probe_case(suite, row.key, probe_run, counts)
    _gate_case(suite, row, counts)
    for key, value in counts.attrs().items():
        suite.set(key, value)
    return counts


def _probe_case(suite: ET.Element, key: str, probe_run: ProbeRunResult, counts: _Counts) -> None:
    case = _sub(suite, "testcase", classname=key, name=probe_run.probe_name, time="0")
    counts.tests += 1
    tally = probe_run.counts
    detail = f"{probe_run.probe_name}: {probe_run.status}, {tally.describe()} test cases"
    if tally.failed:
        cases = f"{tally.failed} failed test case{'s' if tally.failed != 1 else ''}"
        _sub(case, "failure", detail, message=f"{cases} of {tally.total}", type="failed")
        counts.failures += 1
    elif probe_run.status == ERROR or tally.errored:
        message = (
            f"{tally.errored} errored test case{'s' if tally.errored != 1 else ''}"
            if tally.errored
            else "the probe run ended in Error"
        )
        _sub(case, "error", detail, message=message, type="errored")
        counts.errors += 1
    elif probe_run.status == CANCELED or not probe_run.ended:
        _sub(case, "skipped", message=f"{probe_run.status}: {tally.describe()}")
        counts.skipped += 1


def _gate_case(suite: ET.Element, row: ResultRow, counts: _Counts) -> None:
    case = _sub(suite, "testcase", classname=row.key, name=GATE_CASE, time="0")
    counts.tests += 1
    verdict = row.verdict
    if verdict.outcome is Outcome.FAILED:
        reasons = "; ".join(verdict.reasons)
        body = "\n".join([*verdict.reasons, *verdict.notes, row.url])
        _sub(case, "failure", body, message=f"gate failed: {reasons}", type="gate")
        counts.failures += 1
    elif row.error is not None:
        _sub(case, "error", f"{row.error}\n{row.url}", message="status not read", type="unread")
        counts.errors += 1
    elif verdict.outcome is Outcome.PENDING:
        _sub(case, "skipped", message=f"no verdict: the run is {row.status}, not ended")
        counts.skipped += 1
    elif verdict.notes:
        _sub(case, "system-out", "\n".join(verdict.notes))
