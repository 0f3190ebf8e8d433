"""Reading findings: which ended runs need their test cases read, reading them in parallel, and
the journal records of what was learned.

A run's findings are read once: for an ended run with failed test cases whose findings are not
recorded (or again on ``findings --reread``, or when content is asked for: content is never
recorded). The key's previous ended run is read too when its findings are missing (a state
written before findings existed), so that new can be told from known. Only probe runs with
``failedCount > 0`` are asked about. Reads are free and safe to repeat; a probe run that cannot
be read is reported for that run, the others go on, and a run read only in part is shown but not
recorded, so the next command reads it again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from reconciler.errors import ApiError
from reconciler.reading.pool import run_all
from reconciler.results.findings import record_findings
from reconciler.results.findings_read import Finding, FindingsRead
from reconciler.results.gate import previous_result
from reconciler.results.model import ProbeRunResult, RunResult
from reconciler.results.observation import Tracked
from reconciler.state.model import JournalRecord, utc_now

if TYPE_CHECKING:
    from reconciler.api.base import FindingsApi


@dataclass(frozen=True)
class Wanted:
    """One ended run whose findings are to be read."""

    key: str
    workspace_id: int
    result: RunResult

    @property
    def probe_runs(self) -> tuple[ProbeRunResult, ...]:
        return tuple(p for p in self.result.probe_runs if p.counts.failed > 0)


def wanted(
    results: Iterable[tuple[str, Tracked, RunResult | None]], *, again: bool = False
) -> list[Wanted]:
    """The runs to read for ``results`` (key, tracked run, its current result if known):
    ended runs with failures whose findings are not recorded (all of them with ``again``),
    and each key's previous ended run when its findings are missing."""
    chosen: list[Wanted] = []
    for key, run, result in results:
        if result is None or not result.ended:
            continue
        workspace = run.attributes.workspace_id
        if _needs(result, again):
            chosen.append(Wanted(key, workspace, result))
        previous = previous_result(run.history)
        if previous is not None and _needs(previous, again=False):
            chosen.append(Wanted(key, workspace, previous))
    return chosen


def _needs(result: RunResult, again: bool) -> bool:
    return result.counts.failed > 0 and (again or result.findings is None)


def read_findings(
    api: FindingsApi,
    runs: list[Wanted],
    *,
    parallelism: int = 10,
    now: Callable[[], str] = utc_now,
    on_read: Callable[[], None] | None = None,
) -> dict[tuple[str, int], FindingsRead]:
    """Read the findings of ``runs``, ``parallelism`` probe runs at a time; by (key, run id).

    A fatal API error (401, 403) stops the reading and is raised: every other probe run would
    fail the same way. Any other failure is kept as that probe run's error. ``on_read`` is
    called after each probe run (from worker threads, one at a time), for progress displays.
    """
    if parallelism < 1:
        raise ValueError(f"parallelism must be at least 1, not {parallelism}")
    jobs = [(run, probe) for run in runs for probe in run.probe_runs]
    found: dict[tuple[str, int], list[Finding]] = {}
    errors: dict[tuple[str, int], list[str]] = {}
    lock = threading.Lock()

    def read(run: Wanted, probe: ProbeRunResult) -> None:
        where = (run.key, run.result.test_run_id)
        try:
            findings = api.export_findings(
                run.workspace_id, run.result.test_run_id, probe, key=run.key
            )
        except ApiError as exc:
            if exc.fatal:
                raise
            with lock:
                errors.setdefault(where, []).append(str(exc))
        else:
            with lock:
                found.setdefault(where, []).extend(findings)
        if on_read is not None:
            with lock:
                on_read()

    run_all([partial(read, run, probe) for run, probe in jobs], parallelism)
    reads: dict[tuple[str, int], FindingsRead] = {}
    for run in runs:
        where = (run.key, run.result.test_run_id)
        findings = found.get(where, [])
        problems = tuple(errors.get(where, ()))
        reads[where] = FindingsRead(
            test_run_id=run.result.test_run_id,
            findings=tuple(findings),
            errors=problems,
            recorded=None if problems else record_findings([f.record for f in findings], now()),
            requests=len(run.probe_runs),
        )
    return reads


def journal_records(reads: dict[tuple[str, int], FindingsRead]) -> list[JournalRecord]:
    """The ``findings`` journal records of the complete reads (identities only, no content)."""
    return [
        JournalRecord(op="findings", key=key, test_run_id=run_id, findings=read.recorded)
        for (key, run_id), read in sorted(reads.items())
        if read.recorded is not None
    ]
