"""The simulator's memory: runs, the log of requests received, and the fault dice.

Handlers run on the server's event loop while tests read from their own thread, so every
access goes through one lock. Critical sections are a few dict operations long.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.limits import INT32_MAX
from reconciler.simulator.config import SimulatorConfig
from reconciler.simulator.export import ExportFault
from reconciler.simulator.outcomes import (
    OutcomeError,
    OutcomeRule,
)
from reconciler.simulator.runs import CANCELABLE, RunStatus, SimulatedRun, plan_probes
from reconciler.simulator.testcases import ProbeRunCases, iso
from reconciler.simulator.validation import TriggerRequest


@dataclass(slots=True)
class ReceivedRequest:
    """One API request as the simulator saw it, minus any secret.

    ``api_key_present`` / ``api_key_ok`` / ``api_key_label`` say whether and which configured
    key was sent; the key itself is never stored. ``status`` is None when the connection was
    dropped on purpose (``fault == "dropped"``).
    """

    seq: int
    received_wall: float
    method: str
    path: str
    query: str
    headers: dict[str, str]
    api_key_present: bool
    api_key_ok: bool
    api_key_label: str | None
    body: str
    status: int | None = None
    fault: str | None = None
    test_run_id: int | None = None

    def json(self) -> Any:
        """The body parsed as JSON (raises ValueError when it is not JSON)."""
        return json.loads(self.body)

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "receivedAt": iso(self.received_wall),
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "apiKeyPresent": self.api_key_present,
            "apiKeyOk": self.api_key_ok,
            "apiKeyLabel": self.api_key_label,
            "body": self.body,
            "status": self.status,
            "fault": self.fault,
            "testRunId": self.test_run_id,
        }


class CancelResult(enum.Enum):
    CANCELED = "canceled"
    NOT_FOUND = "not found"
    ALREADY_ENDED = "already ended"


class RuleResult(enum.Enum):
    APPLIED = "applied"
    NOT_FOUND = "not found"
    ALREADY_ENDED = "already ended"


class RunIdsExhaustedError(RuntimeError):
    """The next run id would not fit in an int32."""


@dataclass(frozen=True, slots=True)
class RunView:
    """One run as the status and report endpoints need it, read under the store's lock."""

    workspace_id: int
    name: str
    status: RunStatus
    document: dict[str, Any]


@dataclass(slots=True)
class _ArmedFault:
    """An export fault in force, with the exports it still has to spoil (None: no limit)."""

    fault: ExportFault
    left: int | None


def _armed(faults: Sequence[ExportFault]) -> list[_ArmedFault]:
    return [_ArmedFault(fault, fault.times) for fault in faults]


@dataclass
class SimulatorStore:
    """Runs, outcome rules, the simulated clock, request log and fault randomness.

    ``clock`` is the real monotonic clock (a fake one in tests); ``now()`` is the simulated
    one every run follows: it runs ``config.time_scale`` times as fast and moves ahead by
    ``advance_clock(seconds)``.
    """

    config: SimulatorConfig
    clock: Callable[[], float] = time.monotonic
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self._runs: dict[int, SimulatedRun] = {}
        #: probeRunId to the testRunId it belongs to.
        self._probe_runs: dict[int, int] = {}
        #: Runs triggered so far under each name: the next one's ``run_number``.
        self._name_runs: dict[str, int] = {}
        self._export_faults = _armed(self.config.export_faults)
        self._requests: deque[ReceivedRequest] = deque(maxlen=self.config.request_log_limit)
        self._next_id = self.config.first_run_id
        self._next_probe_run_id = 1
        self._seq = 0
        self._triggers = 0
        self._rng = random.Random(self.config.seed)
        self._rules: list[OutcomeRule] = list(self.config.outcomes)
        self._real_base = self.clock()
        self._sim_base = self._real_base
        self._advanced = 0.0
        # Simulated clock to epoch seconds, for the dates in answers.
        self._wall = time.time() - self._real_base

    # --- the clock -------------------------------------------------------------------------

    def now(self) -> float:
        """The simulated clock's reading (monotonic seconds)."""
        return self._sim_base + (self.clock() - self._real_base) * self.config.time_scale

    def advance_clock(self, seconds: float) -> dict[str, float]:
        """Move the simulated clock ahead by ``seconds`` (>= 0); returns ``clock_json()``."""
        if isinstance(seconds, bool) or not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"advance must be a number of seconds >= 0, got {seconds!r}")
        with self._lock:
            self._sim_base += seconds
            self._advanced += seconds
        return self.clock_json()

    def clock_json(self) -> dict[str, float]:
        """``now`` (seconds since the simulator started, simulated), ``advanced``, ``timeScale``."""
        with self._lock:
            return {
                "now": self.now() - self._real_base,
                "advanced": self._advanced,
                "timeScale": self.config.time_scale,
            }

    # --- configuration ---------------------------------------------------------------------

    def reconfigure(self, config: SimulatorConfig) -> None:
        """Swap the config; a new seed restarts the dice, existing runs are kept."""
        with self._lock:
            if config.seed != self.config.seed:
                self._rng = random.Random(config.seed)
            if config.request_log_limit != self.config.request_log_limit:
                self._requests = deque(self._requests, maxlen=config.request_log_limit)
            if config.time_scale != self.config.time_scale:
                # Rebase so that a new pace starts from now instead of rewriting the past.
                self._sim_base = self.now()
                self._real_base = self.clock()
                self._wall = time.time() - self._sim_base
            if config.outcomes != self.config.outcomes:
                self._rules = list(config.outcomes)
            if config.export_faults != self.config.export_faults:
                self._export_faults = _armed(config.export_faults)
            if not self._runs:
                self._next_id = config.first_run_id
            self.config = config

    def clear(self) -> None:
        """Forget runs, requests and added outcome rules; restart ids and dice.

        The clock keeps going: time never runs backwards.
        """
        with self._lock:
            self._runs.clear()
            self._probe_runs.clear()
            self._name_runs.clear()
            self._export_faults = _armed(self.config.export_faults)
            self._requests.clear()
            self._next_id = self.config.first_run_id
            self._next_probe_run_id = 1
            self._seq = 0
            self._triggers = 0
            self._rng = random.Random(self.config.seed)
            self._rules = list(self.config.outcomes)

    # --- faults ----------------------------------------------------------------------------

    def roll_before(self) -> str | None:
        """Fault decided before a request is handled: "rate_limited", "server_error" or None."""
        config = self.config
        if not (config.rate_limit_rate or config.error_rate):
            return None
        with self._lock:
            roll = self._rng.random()
        if roll < config.rate_limit_rate:
            return "rate_limited"
        if roll < config.rate_limit_rate + config.error_rate:
            return "server_error"
        return None

    def roll_after_trigger(self) -> str | None:
        """Fault after a run was created: "dropped", "error_after_trigger" or None."""
        config = self.config
        if not (config.drop_after_trigger_rate or config.error_after_trigger_rate):
            return None
        with self._lock:
            roll = self._rng.random()
        if roll < config.drop_after_trigger_rate:
            return "dropped"
        if roll < config.drop_after_trigger_rate + config.error_after_trigger_rate:
            return "error_after_trigger"
        return None

    # --- runs ------------------------------------------------------------------------------

    def trigger(self, workspace_id: int, request: TriggerRequest) -> SimulatedRun:
        config = self.config
        with self._lock:
            if self._next_id > INT32_MAX:
                raise RunIdsExhaustedError
            # Rolled whatever the rules say, so that a seed gives the same dice either way.
            error_roll = bool(config.run_error_rate) and self._rng.random() < config.run_error_rate
            rule = next((r for r in reversed(self._rules) if r.matches(request.name)), None)
            if rule is not None and rule.status is not None:
                end_status = RunStatus(rule.status)
            else:
                end_status = RunStatus.ERROR if error_roll else RunStatus.FINISHED
            finish_after = config.finish_after or None
            if rule is not None and rule.finish_after is not None:
                finish_after = rule.finish_after
            probe_ids = (
                list(config.default_probe_ids)
                if request.probe_ids is None
                else list(dict.fromkeys(request.probe_ids))
            )
            failed = rule.failed if rule else None
            errored = rule.errored if rule else None
            # Attacks of probes the run does not have are ignored, as per-probe counts are.
            forced = {
                probe: indexes
                for probe, indexes in (rule.forced_attacks() if rule else {}).items()
                if probe in probe_ids
            }
            now = self.now()
            run = SimulatedRun(
                test_run_id=self._next_id,
                workspace_id=workspace_id,
                request=request,
                created_at=now,
                start_after=config.start_after,
                ends_at=None if finish_after is None else now + finish_after,
                end_status=end_status,
                probes=plan_probes(
                    probe_ids,
                    self._next_probe_run_id,
                    test_run_id=self._next_id,
                    cases_per_probe=config.test_cases_per_probe,
                    failed=failed,
                    errored=errored,
                    end_status=end_status,
                    forced=forced,
                ),
                cases_per_probe=config.test_cases_per_probe,
                failed_spec=failed,
                errored_spec=errored,
                run_number=self._name_runs.get(request.name, 0),
                forced=forced,
                omit_probe_run_id=bool(rule and rule.omit_probe_run_id),
            )
            self._runs[run.test_run_id] = run
            self._name_runs[request.name] = run.run_number + 1
            for probe in run.probes:
                self._probe_runs[probe.probe_run_id] = run.test_run_id
            self._next_id += 1
            self._next_probe_run_id += len(probe_ids)
            self._triggers += 1
        return run

    def cancel(
        self, workspace_id: int | None, test_run_id: int
    ) -> tuple[CancelResult, RunStatus | None]:
        """Cancel a run still going; ``workspace_id=None`` cancels as the web UI would."""
        with self._lock:
            run = self._runs.get(test_run_id)
            if run is None or workspace_id not in (None, run.workspace_id):
                return CancelResult.NOT_FOUND, None
            now = self.now()
            status = run.status(now)
            if status not in CANCELABLE:
                return CancelResult.ALREADY_ENDED, status
            run.canceled_at = now
            return CancelResult.CANCELED, RunStatus.CANCELED

    def delete(self, test_run_id: int) -> bool:
        """Forget a run, as if deleted on the platform; False when there was none."""
        with self._lock:
            run = self._runs.pop(test_run_id, None)
            for probe in run.probes if run else ():
                self._probe_runs.pop(probe.probe_run_id, None)
            return run is not None

    def view(self, test_run_id: int) -> RunView | None:
        """The run's status document as of now, with what the handlers check; None if unknown."""
        with self._lock:
            run = self._runs.get(test_run_id)
            if run is None:
                return None
            now = self.now()
            return RunView(
                workspace_id=run.workspace_id,
                name=run.request.name,
                status=run.status(now),
                document=run.status_document(now, self.config, self._wall),
            )

    # --- outcome rules ---------------------------------------------------------------------

    def add_outcome(self, rule: OutcomeRule) -> tuple[RuleResult, dict[str, Any] | None]:
        """Apply ``rule``: a name rule to runs triggered from now on (the latest added wins);
        an id rule to that run, if it has not ended.

        Returns ``(APPLIED, run json)`` for an id rule, ``(APPLIED, None)`` for a name rule,
        or ``NOT_FOUND`` / ``ALREADY_ENDED`` with None.
        Raises ``OutcomeError`` for per-probe counts naming probes the run does not have.
        """
        with self._lock:
            if rule.test_run_id is None:
                self._rules.append(rule)
                return RuleResult.APPLIED, None
            run = self._runs.get(rule.test_run_id)
            if run is None:
                return RuleResult.NOT_FOUND, None
            now = self.now()
            if run.status(now) not in CANCELABLE:
                # An ended run never changes: the client records its result once.
                return RuleResult.ALREADY_ENDED, None
            probe_ids = [probe.probe_id for probe in run.probes]
            forced = rule.forced_attacks()
            for field_name, spec in (
                ("failed", rule.failed),
                ("errored", rule.errored),
                ("failAttacks", forced),
            ):
                if isinstance(spec, dict):
                    strangers = sorted(set(spec) - set(probe_ids))
                    if strangers:
                        raise OutcomeError(
                            field_name,
                            f"{field_name}: run {run.test_run_id} has no probe "
                            f"{strangers[0]}; its probes are {probe_ids}",
                        )
            if rule.status is not None:
                run.end_status = RunStatus(rule.status)
            if rule.failed is not None:
                run.failed_spec = rule.failed
            if rule.errored is not None:
                run.errored_spec = rule.errored
            if rule.fail_attacks is not None:
                run.forced = forced
            if rule.omit_probe_run_id is not None:
                run.omit_probe_run_id = rule.omit_probe_run_id
            if rule.finish_after is not None:
                # Never in the past: what a client has already seen stays true.
                run.ends_at = max(run.created_at + rule.finish_after, now)
            run.probes = plan_probes(
                probe_ids,
                run.probes[0].probe_run_id if run.probes else 0,
                test_run_id=run.test_run_id,
                cases_per_probe=run.cases_per_probe,
                failed=run.failed_spec,
                errored=run.errored_spec,
                end_status=run.end_status,
                forced=run.forced,
            )
            return RuleResult.APPLIED, run.to_json(now, self._wall)

    # --- test cases and the export ---------------------------------------------------------

    def probe_run_cases(self, probe_run_id: int) -> tuple[ProbeRunCases, str] | None:
        """The test cases of a probe run as of now, and its run's name; None if unknown."""
        with self._lock:
            run = self._runs.get(self._probe_runs.get(probe_run_id, -1))
            if run is None:
                return None
            probe = next(p for p in run.probes if p.probe_run_id == probe_run_id)
            cases = run.cases(probe, self.now(), self._wall, self.config.content_marker)
            return cases, run.request.name

    def run_cases(self, test_run_id: int) -> list[ProbeRunCases] | None:
        """The test cases of every probe run of a run as of now; None if unknown."""
        with self._lock:
            run = self._runs.get(test_run_id)
            if run is None:
                return None
            now, marker = self.now(), self.config.content_marker
            return [run.cases(probe, now, self._wall, marker) for probe in run.probes]

    def export_fault(self, test_run_id: int, name: str) -> ExportFault | None:
        """The latest export fault selecting this run, counted as used once; None if none."""
        with self._lock:
            for armed in reversed(self._export_faults):
                if armed.fault.matches(test_run_id, name):
                    if armed.left is not None:
                        armed.left -= 1
                        if not armed.left:
                            self._export_faults.remove(armed)
                    return armed.fault
            return None

    def add_export_fault(self, fault: ExportFault) -> None:
        with self._lock:
            self._export_faults.append(_ArmedFault(fault, fault.times))

    def export_faults(self) -> list[dict[str, Any]]:
        """The export faults in force, oldest first, with the exports each has ``left``."""
        with self._lock:
            return [
                armed.fault.to_json() | ({} if armed.left is None else {"left": armed.left})
                for armed in self._export_faults
            ]

    def clear_export_faults(self) -> None:
        with self._lock:
            self._export_faults.clear()

    def outcomes(self) -> list[OutcomeRule]:
        """The name rules in force, oldest first (the latest matching one wins)."""
        with self._lock:
            return list(self._rules)

    def clear_outcomes(self) -> None:
        """Forget every name rule (runs already triggered keep their plan)."""
        with self._lock:
            self._rules.clear()

    def runs(self) -> list[dict[str, Any]]:
        """Every run as JSON-ready dicts, oldest first, with its status as of now."""
        with self._lock:
            now = self.now()
            return [run.to_json(now, self._wall) for run in self._runs.values()]

    def run_status(self, test_run_id: int) -> RunStatus | None:
        with self._lock:
            run = self._runs.get(test_run_id)
            return None if run is None else run.status(self.now())

    def trigger_count(self) -> int:
        """Runs created since start (or ``clear``), including those whose answer was lost."""
        with self._lock:
            return self._triggers

    # --- request log -----------------------------------------------------------------------

    def log_request(self, entry_fields: dict[str, Any]) -> ReceivedRequest:
        with self._lock:
            self._seq += 1
            entry = ReceivedRequest(seq=self._seq, **entry_fields)
            self._requests.append(entry)
        return entry

    def requests(self) -> list[ReceivedRequest]:
        """A copy of the request log, oldest first."""
        with self._lock:
            # Copies: the server thread still fills in ``status`` of entries in flight.
            return [dataclasses.replace(entry) for entry in self._requests]
