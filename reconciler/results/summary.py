"""The one model every results view renders: a row per run, with its verdict and link.

``status``, ``wait``, ``apply --wait`` and ``report`` all build a ``ResultSet`` with
``build_results`` and hand it to a view (text, JSON, JUnit, Markdown, HTML) or to
``ResultSet.exit_code``; none of them evaluates a gate or formats a link on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from reconciler.results.baseline import FindingsDiff, compare
from reconciler.results.findings import FindingRecord
from reconciler.results.findings_read import Finding, FindingsRead
from reconciler.results.gate import Gate, Outcome, Verdict, evaluate, previous_result
from reconciler.results.links import probe_run_url, run_url
from reconciler.results.model import Counts, RunResult
from reconciler.results.observation import Observation, Refresh

EXIT_PASSED: Final = 0
EXIT_GATE_FAILED: Final = 3
EXIT_TIMED_OUT: Final = 4
#: A gate needed findings that could not be read: an error, not a verdict on the run.
EXIT_UNDECIDED: Final = 1


@dataclass(frozen=True)
class RowFindings:
    """What is known of an ended run's findings, for every view.

    ``diff`` is None when they are not known: the run failed test cases and its findings are
    neither recorded nor could be read now (``error`` says why, or ``not_read`` when nobody
    tried: ``--no-findings``, no API key).
    """

    diff: FindingsDiff | None
    #: Findings read now, with their messages (content), by fingerprint; empty when the
    #: findings came from state (content is never recorded).
    read: dict[str, Finding]
    #: Why (some of) the findings could not be read now.
    error: str | None = None
    #: Why they were not read at all (no error: nobody asked).
    not_read: str | None = None


@dataclass(frozen=True)
class ResultRow:
    """One tracked run as every view shows it."""

    key: str
    test_run_id: int
    workspace_id: int
    target_id: int
    name: str
    #: None: the target's configured probes (``probeIds: null``).
    probe_ids: tuple[int, ...] | None
    #: The latest result known (recorded or read now); None when none could be had.
    result: RunResult | None
    gate: Gate
    verdict: Verdict
    url: str
    #: The key's previous ended run, for "worse than last time" and the report.
    previous: RunResult | None
    #: The API answered 404: the run no longer exists.
    gone: bool = False
    #: Why the status could not be read now.
    error: str | None = None
    #: The run's findings against the key's previous ended run; None while it has not ended.
    findings: RowFindings | None = None
    #: Where the specs declare the run (file as given, 1-based line); None when no spec does.
    spec_file: str | None = None
    spec_line: int | None = None
    #: The key's recorded earlier results, oldest first (the report draws their trend).
    history: tuple[RunResult, ...] = ()

    def probe_url(self, probe_run_id: int | None) -> str:
        """The page of one of the run's probe runs (the run's page when the id is unknown)."""
        return self.url if probe_run_id is None else probe_run_url(self.url, probe_run_id)

    def probe_name(self, record: FindingRecord) -> str | None:
        """The name of the probe a finding came from, as the status document gave it (a fixed
        finding's probe run belongs to the previous run: its probe id then finds the name)."""
        probes = self.result.probe_runs if self.result is not None else ()
        for probe in probes:
            if record.probe_run_id is not None and probe.probe_run_id == record.probe_run_id:
                return probe.probe_name
        for probe in probes:
            if record.probe_id is not None and probe.probe_id == record.probe_id:
                return probe.probe_name
        return None

    @property
    def status(self) -> str:
        """The status word shown: the API's, or what stands in for it."""
        if self.result is not None:
            return self.result.status
        if self.gone:
            return "Gone"
        return "Unreadable" if self.error else "Unknown"

    @property
    def ended(self) -> bool:
        return self.result is not None and self.result.ended

    @property
    def counts(self) -> Counts:
        return self.result.counts if self.result is not None else Counts()


@dataclass(frozen=True)
class ResultSet:
    """Every selected run's row, in key order, and when the data was read."""

    rows: tuple[ResultRow, ...]
    #: When the statuses were read (``utc_now`` format).
    read_at: str
    #: Status requests sent to make it (0 when everything had ended).
    requests: int = 0

    @property
    def failed(self) -> list[ResultRow]:
        return [r for r in self.rows if r.verdict.failed]

    @property
    def passed(self) -> list[ResultRow]:
        return [r for r in self.rows if r.verdict.passed]

    @property
    def pending(self) -> list[ResultRow]:
        """Runs with no verdict yet: still going, unreadable or gone."""
        return [r for r in self.rows if r.verdict.outcome is Outcome.PENDING]

    @property
    def unreadable(self) -> list[ResultRow]:
        return [r for r in self.rows if r.error is not None]

    @property
    def undecided(self) -> list[ResultRow]:
        """Runs whose gate failed closed only because data it needs could not be read."""
        return [r for r in self.rows if r.verdict.failed and r.verdict.undecided]

    def exit_code(self, *, waiting: bool = False) -> int:
        """3 when a run failed its gate; else 1 when a gate could not be decided (findings it
        needs not read); else 4 when ``waiting`` and runs have not ended; else 0."""
        if any(not r.verdict.undecided for r in self.failed):
            return EXIT_GATE_FAILED
        if self.failed:
            return EXIT_UNDECIDED
        if waiting and self.pending:
            return EXIT_TIMED_OUT
        return EXIT_PASSED

    def not_ended_first(self) -> list[ResultRow]:
        """The order ``status`` prints: runs still going first, then by key."""
        return sorted(self.rows, key=lambda r: (r.ended, r.key))

    def failing_first(self) -> list[ResultRow]:
        """The order of the report's table: failed, then still going, then passed."""
        rank = {Outcome.FAILED: 0, Outcome.PENDING: 1, Outcome.PASSED: 2}
        return sorted(self.rows, key=lambda r: (rank[r.verdict.outcome], r.key))


@dataclass(frozen=True)
class FindingsContext:
    """What a command knows of findings beyond state: reads made now (by key), where each run
    is declared, and why findings were not read when they were not."""

    reads: Mapping[tuple[str, int], FindingsRead] = field(default_factory=dict)
    #: key -> (spec file, line) of the run's declaration.
    declared: Mapping[str, tuple[str, int]] = field(default_factory=dict)
    #: Why runs whose findings are not recorded were not read ("--no-findings"); None: they
    #: were meant to be read (a key missing from ``reads`` then means it could not be).
    not_read: str | None = None


def build_results(
    refresh: Refresh,
    gates: Mapping[str, Gate],
    *,
    platform: str,
    read_at: str,
    findings: FindingsContext | None = None,
) -> ResultSet:
    """Rows for every observation of ``refresh``; ``gates`` by key (a key without one gets
    the default gate: only ``failOn``); ``findings`` adds what was read of findings now."""
    context = findings if findings is not None else FindingsContext(not_read="not read")
    rows = tuple(
        _row(observation, gates.get(key, Gate()), platform, context)
        for key, observation in sorted(refresh.observations.items())
    )
    requests = refresh.requests + sum(r.requests for r in context.reads.values())
    return ResultSet(rows=rows, read_at=read_at, requests=requests)


def row_findings(
    key: str, result: RunResult, previous: RunResult | None, context: FindingsContext
) -> RowFindings:
    """An ended run's findings: recorded or read now, compared with the previous run's (also
    recorded or read now)."""
    read = context.reads.get((key, result.test_run_id))
    result = _with_read(result, read)
    if previous is not None:
        previous = _with_read(previous, context.reads.get((key, previous.test_run_id)))
    findings = {f.record.fingerprint: f for f in read.findings} if read is not None else {}
    error = "; ".join(read.errors) if read is not None and read.errors else None
    diff = compare(result, previous)
    return RowFindings(
        diff=diff,
        read=findings,
        error=error,
        not_read=context.not_read if diff is None and error is None else None,
    )


def _with_read(result: RunResult, read: FindingsRead | None) -> RunResult:
    if read is None or read.recorded is None:
        return result
    return result.model_copy(update={"findings": read.recorded})


def _row(
    observation: Observation, gate: Gate, platform: str, context: FindingsContext
) -> ResultRow:
    run = observation.run
    attributes = run.attributes
    previous = previous_result(run.history)
    result = observation.result
    findings = (
        row_findings(observation.key, result, previous, context)
        if result is not None and result.ended
        else None
    )
    verdict = (
        # A run that vanished can never satisfy its gate, and waiting will not bring it back.
        Verdict(Outcome.FAILED, ("the run no longer exists on the platform",))
        if observation.gone
        else evaluate(
            result,
            gate,
            previous,
            findings=findings.diff if findings is not None else None,
            findings_unknown=_why_unknown(findings),
        )
    )
    declared = context.declared.get(observation.key)
    url = run_url(platform, attributes.workspace_id, attributes.target_id, observation.test_run_id)
    return ResultRow(
        key=observation.key,
        test_run_id=observation.test_run_id,
        workspace_id=attributes.workspace_id,
        target_id=attributes.target_id,
        name=attributes.name,
        probe_ids=attributes.probe_ids,
        result=observation.result,
        gate=gate,
        verdict=verdict,
        url=url,
        previous=previous,
        gone=observation.gone,
        error=observation.error,
        findings=findings,
        spec_file=declared[0] if declared is not None else None,
        spec_line=declared[1] if declared is not None else None,
        history=run.history,
    )


def _why_unknown(findings: RowFindings | None) -> str | None:
    if findings is None or findings.diff is not None:
        return None
    return findings.error or findings.not_read or "not read"
