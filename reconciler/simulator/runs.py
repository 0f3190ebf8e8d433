"""A simulated test run: its probe runs, how its status and counts move with the clock, and
how a trigger's probes are planned. The store (``store.py``) keeps the runs; this is each one.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.simulator.catalogue import assign_slots, attack_id, window_start
from reconciler.simulator.config import SimulatorConfig
from reconciler.simulator.outcomes import CaseCount, probe_weights, share
from reconciler.simulator.testcases import ERROR, FAILED, PASSED, ProbeRunCases, iso
from reconciler.simulator.validation import TriggerRequest


class RunStatus(enum.StrEnum):
    """Test-run statuses as the product names them."""

    PENDING = "Pending"
    RUNNING = "Running"
    FINISHED = "Finished"
    CANCELED = "Canceled"
    ERROR = "Error"


CANCELABLE = frozenset({RunStatus.PENDING, RunStatus.RUNNING})


#: While Running without an end in sight, counts grow as if the run took this long, never
#: reaching the end: a run that never finishes must not look finished.
_OPEN_ENDED_SECONDS = 60.0
_OPEN_ENDED_CAP = 0.9


@dataclass(slots=True)
class ProbePlan:
    """What one probe run of a run ends with (its counts grow towards these while Running)."""

    probe_id: int
    probe_run_id: int
    total: int
    failed: int
    errored: int


@dataclass(slots=True)
class SimulatedRun:
    """One triggered run. Its status is a function of simulated time, so no timers are needed.

    Times are on the store's simulated clock (``SimulatorStore.now``). ``ends_at`` is when it
    ends by itself (None: never), as ``end_status`` (Finished or Error), with ``probes``' counts.
    ``failed_spec`` / ``errored_spec`` are the outcome rule's counts the plan was made from,
    kept so that a later rule by id can change one part and keep the rest.
    """

    test_run_id: int
    workspace_id: int
    request: TriggerRequest
    created_at: float
    #: Timing copied from the config (or a rule) at trigger time: later config changes do not
    #: rewrite the history of runs that already exist.
    start_after: float
    ends_at: float | None
    end_status: RunStatus
    probes: list[ProbePlan]
    cases_per_probe: int
    failed_spec: CaseCount | None = None
    errored_spec: CaseCount | None = None
    canceled_at: float | None = None
    #: How many runs of the same name were triggered before this one (its test cases slide).
    run_number: int = 0
    #: Attacks a rule made fail: probe id to attack indexes of its catalogue.
    forced: dict[int, list[int]] = field(default_factory=dict)
    #: The status document leaves out ``probeRunId`` (a fault a rule asks for).
    omit_probe_run_id: bool = False

    @property
    def started_at(self) -> float:
        start = self.created_at + self.start_after
        return start if self.ends_at is None else min(start, self.ends_at)

    def status(self, now: float) -> RunStatus:
        if self.canceled_at is not None:
            return RunStatus.CANCELED
        if self.ends_at is not None and now >= self.ends_at:
            return self.end_status
        if now < self.started_at:
            return RunStatus.PENDING
        return RunStatus.RUNNING

    def progress(self, at: float) -> float:
        """Share of the test cases done at ``at``: 0 before the start, 1 once ended by itself."""
        if self.ends_at is not None and at >= self.ends_at:
            return 1.0
        if at < self.started_at:
            return 0.0
        if self.ends_at is None:
            return min(_OPEN_ENDED_CAP, (at - self.started_at) / _OPEN_ENDED_SECONDS)
        return (at - self.started_at) / (self.ends_at - self.started_at)

    def _moment(self, now: float) -> float:
        """The moment the counts are frozen at: the cancel, else now."""
        return self.canceled_at if self.canceled_at is not None else now

    def counts(self, probe: ProbePlan, now: float) -> tuple[int, int, int, int]:
        """``(total, passed, failed, errored)`` of ``probe`` as the status document gives them."""
        at = self._moment(now)
        progress = self.progress(at)
        passed = probe.total - probe.failed - probe.errored
        if progress >= 1.0:
            return (probe.total, passed, probe.failed, probe.errored)
        if at >= self.started_at:
            return (
                probe.total,
                math.floor(passed * progress),
                math.floor(probe.failed * progress),
                math.floor(probe.errored * progress),
            )
        return (0, 0, 0, 0)

    def status_document(self, now: float, config: SimulatorConfig, wall: float) -> dict[str, Any]:
        """The ``GET .../status`` answer as of ``now``; ``wall`` maps clock to epoch seconds."""
        status = self.status(now)
        started = self._moment(now) >= self.started_at
        probe_runs = []
        for probe in self.probes:
            total, passed, failed, errored = self.counts(probe, now)
            if status is RunStatus.ERROR:
                probe_status = RunStatus.ERROR if probe.errored else RunStatus.FINISHED
            else:
                probe_status = status
            probe_run: dict[str, Any] = {
                "probeName": config.probe_name(probe.probe_id),
                "probeRunId": probe.probe_run_id,
                "probeId": probe.probe_id,
                "totalCount": total,
                "errorCount": errored,
                "passedCount": passed,
                "failedCount": failed,
                "status": config.spell(str(probe_status)),
            }
            if self.omit_probe_run_id:
                del probe_run["probeRunId"]
            probe_runs.append(probe_run)
        return {
            "testRunId": self.test_run_id,
            "executionDate": iso(self.started_at + wall) if started else None,
            "status": config.spell(str(status)),
            "probeRuns": probe_runs,
        }

    def cases(self, probe: ProbePlan, now: float, wall: float, marker: str | None) -> ProbeRunCases:
        """The test cases of ``probe`` as of ``now`` (a snapshot; content is built later)."""
        _, passed, failed, errored = self.counts(probe, now)
        final_passed = probe.total - probe.failed - probe.errored
        start = window_start(self.request.name, probe.probe_id, self.run_number)
        slots = assign_slots(
            start, probe.failed, probe.errored, final_passed, self.forced.get(probe.probe_id, ())
        )
        until = self._moment(now)
        if self.ends_at is not None:
            until = min(until, self.ends_at)
        return ProbeRunCases(
            workspace_id=self.workspace_id,
            test_run_id=self.test_run_id,
            probe_id=probe.probe_id,
            probe_run_id=probe.probe_run_id,
            slots=slots,
            counts={FAILED: failed, ERROR: errored, PASSED: passed},
            started=self.started_at + wall,
            until=max(until, self.started_at) + wall,
            marker=marker,
        )

    def to_json(self, now: float, wall: float) -> dict[str, Any]:
        return {
            "testRunId": self.test_run_id,
            "workspaceId": self.workspace_id,
            "targetId": self.request.target_id,
            "probeIds": self.request.probe_ids,
            "name": self.request.name,
            "notifyWhenFinished": self.request.notify_when_finished,
            "runAiAnalysis": self.request.run_ai_analysis,
            "status": str(self.status(now)),
            "createdAt": iso(self.created_at + wall),
            "canceled": self.canceled_at is not None,
            "endsAt": None if self.ends_at is None else iso(self.ends_at + wall),
            "endsAs": str(self.end_status),
            "failed": sum(probe.failed for probe in self.probes),
            "errored": sum(probe.errored for probe in self.probes),
            "total": sum(probe.total for probe in self.probes),
            "runNumber": self.run_number,
            "failAttacks": [
                attack_id(probe_id, index)
                for probe_id, indexes in sorted(self.forced.items())
                for index in indexes
            ],
            "omitProbeRunId": self.omit_probe_run_id,
        }


def plan_probes(
    probe_ids: list[int],
    first_probe_run_id: int,
    *,
    test_run_id: int,
    cases_per_probe: int,
    failed: CaseCount | None,
    errored: CaseCount | None,
    end_status: RunStatus,
    forced: Mapping[int, Sequence[int]] | None = None,
) -> list[ProbePlan]:
    """Each probe run's final counts under an outcome; ids run on from ``first_probe_run_id``.

    A run total is shared out unevenly over the probe runs, the same way for the same
    ``test_run_id`` (``outcomes.probe_weights`` and ``outcomes.share``), failed test cases
    first, errored ones in the room left; a per-probe count names probe ids (ids the run does
    not have are ignored: a name rule may match runs with different probes). A probe run has
    ``cases_per_probe`` test cases, or more when the failed and errored ones asked for do not
    fit. An Error run with no errored count given has its first probe run errored (every case
    not failed).

    ``forced`` (probe id to attack indexes a rule makes fail) sets a floor: a probe run fails at
    least as many test cases as attacks are forced on it. A run total keeps its number when it
    is at least the forced ones (those are taken out first, the rest shared out), else it
    becomes their number.
    """
    weights = probe_weights(test_run_id, len(probe_ids))
    floor = [len(set((forced or {}).get(probe, ()))) for probe in probe_ids]

    def counts(spec: CaseCount | None, taken: list[int]) -> list[int]:
        if spec is None:
            return [0] * len(probe_ids)
        if isinstance(spec, int):
            return share(spec, weights, [cases_per_probe - used for used in taken])
        return [spec.get(probe, 0) for probe in probe_ids]

    if isinstance(failed, int):
        rest = counts(max(0, failed - sum(floor)), floor)
        failed_counts = [least + more for least, more in zip(floor, rest, strict=True)]
    else:
        given = counts(failed, [0] * len(probe_ids))
        failed_counts = [max(least, n) for least, n in zip(floor, given, strict=True)]
    errored_counts = counts(errored, failed_counts)
    if end_status is RunStatus.ERROR and errored is None and probe_ids:
        errored_counts[0] = max(1, cases_per_probe - failed_counts[0])
    return [
        ProbePlan(
            probe_id=probe,
            probe_run_id=first_probe_run_id + index,
            total=max(cases_per_probe, failed_counts[index] + errored_counts[index]),
            failed=failed_counts[index],
            errored=errored_counts[index],
        )
        for index, probe in enumerate(probe_ids)
    ]
