"""Builders of run records shared by every test package: short to call, explicit defaults."""

from __future__ import annotations

from typing import Any, Literal

from reconciler.records import RunAttributes, normalise_probe_ids
from reconciler.results.findings import (
    FindingRecord,
    RecordedFindings,
    fingerprint,
    record_findings,
)
from reconciler.results.model import Counts, ProbeRunResult, RunResult
from reconciler.state.model import TrackedRun


def attrs(**changes: Any) -> RunAttributes:
    """A valid run record; keyword arguments (snake_case) override the defaults."""
    data: dict[str, Any] = {
        "workspace_id": 1234,
        "target_id": 42,
        "probe_ids": (101, 102),
        "name": "run",
        "run_ai_analysis": False,
        "notify_when_finished": False,
    }
    data.update(changes)
    if data["probe_ids"] is not None:  # None: the target's configured probes
        data["probe_ids"] = normalise_probe_ids(tuple(data["probe_ids"]))
    return RunAttributes(**data)


def tracked(
    attributes: RunAttributes,
    run_id: int | None = 5000,
    *,
    status: Literal["triggered", "unknown"] = "triggered",
    note: str = "",
) -> TrackedRun:
    """A run in state; an ``unknown`` one has no id."""
    return TrackedRun(
        status=status,
        test_run_id=None if status == "unknown" else run_id,
        attributes=attributes,
        triggered_at="2024-05-01T12:00:00Z",
        note=note,
    )


def result_of(
    run_id: int,
    *,
    status: str = "Finished",
    failed: int = 0,
    errored: int = 0,
    total: int = 10,
    probes: tuple[int, ...] = (101,),
    seen_at: str = "2024-05-01T13:00:00Z",
) -> RunResult:
    """A run's result: the first probe run carries ``failed`` and ``errored``; each probe run
    has ``total`` test cases and its own status equal to the run's."""
    probe_runs = tuple(
        ProbeRunResult(
            probe_name=f"Probe {probe}",
            probe_run_id=run_id * 100 + i,
            probe_id=probe,
            status=status,
            counts=Counts(
                total=total,
                failed=failed if i == 0 else 0,
                errored=errored if i == 0 else 0,
                passed=total - (failed + errored if i == 0 else 0),
            ),
        )
        for i, probe in enumerate(probes)
    )
    return RunResult(
        test_run_id=run_id,
        status=status,
        execution_date="2024-05-01T12:00:01Z",
        probe_runs=probe_runs,
        seen_at=seen_at,
    )


def finding(
    probe_id: int | None = 101,
    attack: str | None = "CTLO-6-3",
    *,
    variation: str | None = "base64",
    strategy: str | None = "single-turn",
    red_teamer: str | None = "jailbreaker",
    probe_run_id: int | None = None,
    test_case_id: str | None = None,
) -> FindingRecord:
    """A finding's record, its fingerprint computed from the identity fields."""
    return FindingRecord(
        fingerprint=fingerprint(probe_id, attack, variation, strategy, red_teamer),
        probe_id=probe_id,
        probe_run_id=probe_run_id,
        attack=attack,
        variation=variation,
        strategy=strategy,
        red_teamer=red_teamer,
        test_case_id=test_case_id,
    )


def recorded(*records: FindingRecord, read_at: str = "2024-05-01T13:00:01Z") -> RecordedFindings:
    """Findings as state records them (duplicates merged, capped)."""
    return record_findings(list(records), read_at)
