"""Result sets with findings for the SARIF tests and bench/bench_sarif.py, built the way the
commands build them: tracked runs with results (and their previous runs in history), read or
recorded findings, through ``build_results``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from reconciler.results.findings import FindingRecord
from reconciler.results.findings_read import Finding, FindingsRead, Message
from reconciler.results.gate import Gate
from reconciler.results.model import RunResult
from reconciler.results.observation import Observation, Refresh
from reconciler.results.summary import FindingsContext, ResultSet, build_results
from tests.factories import attrs, recorded, result_of, tracked

PLATFORM = "https://probe.splx.ai"


@dataclass(frozen=True)
class Run:
    """One key: its run's findings, its previous run's (None: no previous run), where the
    specs declare it, and the messages of findings read now (by fingerprint)."""

    key: str
    run_id: int
    findings: Sequence[FindingRecord]
    previous: Sequence[FindingRecord] | None = None
    workspace_id: int = 1234
    target_id: int = 42
    spec: tuple[str, int] | None = ("specs/runs.yaml", 3)
    probes: tuple[int, ...] = (101, 102)
    messages: Mapping[str, tuple[Message, ...]] = field(default_factory=dict)
    status: str = "Finished"


def with_probe_runs(run_id: int, records: Sequence[FindingRecord]) -> list[FindingRecord]:
    """The records with the probe run ids ``result_of`` gives their probes."""
    ids = {101: 0, 102: 1, 103: 2}
    return [
        r.model_copy(update={"probe_run_id": run_id * 100 + ids.get(r.probe_id or 0, 0)})
        if r.probe_run_id is None
        else r
        for r in records
    ]


def result_set(*runs: Run, read_now: bool = True) -> ResultSet:
    """The rows of ``runs``; ``read_now``: their findings come from a read (with messages,
    when given), else from state only (no content)."""
    observations: dict[str, Observation] = {}
    reads: dict[tuple[str, int], FindingsRead] = {}
    declared: dict[str, tuple[str, int]] = {}
    for run in runs:
        records = with_probe_runs(run.run_id, run.findings)
        result = result_of(
            run.run_id,
            status=run.status,
            failed=len(records),
            total=max(10, len(records)),
            probes=run.probes,
        )
        history: tuple[RunResult, ...] = ()
        if run.previous is not None:
            before = with_probe_runs(run.run_id - 1, run.previous)
            prior = result_of(
                run.run_id - 1, failed=len(before), total=max(10, len(before)), probes=run.probes
            )
            history = (prior.model_copy(update={"findings": recorded(*before)}),)
        tracked_run = tracked(
            attrs(workspace_id=run.workspace_id, target_id=run.target_id, probe_ids=run.probes),
            run.run_id,
        ).model_copy(update={"history": history})
        ended = result.ended
        if ended and not read_now:
            result = result.model_copy(update={"findings": recorded(*records)})
        observations[run.key] = Observation(
            key=run.key, run=tracked_run, result=result, source="api"
        )
        if ended and read_now:
            reads[(run.key, run.run_id)] = FindingsRead(
                test_run_id=run.run_id,
                findings=tuple(
                    Finding(record=r, messages=run.messages.get(r.fingerprint, ())) for r in records
                ),
                recorded=recorded(*records),
            )
        if run.spec is not None:
            declared[run.key] = run.spec
    return build_results(
        Refresh(observations=observations),
        {run.key: Gate() for run in runs},
        platform=PLATFORM,
        read_at="2024-05-01T13:00:02Z",
        findings=FindingsContext(reads=reads, declared=declared),
    )
