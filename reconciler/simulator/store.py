"""The simulator's memory: runs, the log of requests received, and the fault dice.

Handlers run on the server's event loop while tests read from their own thread, so every
access goes through one lock. Critical sections are a few dict operations long.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reconciler.limits import INT32_MAX
from reconciler.simulator.config import SimulatorConfig
from reconciler.simulator.validation import TriggerRequest


class RunStatus(enum.StrEnum):
    """Test-run statuses as the product names them."""

    PENDING = "Pending"
    RUNNING = "Running"
    FINISHED = "Finished"
    CANCELED = "Canceled"
    ERROR = "Error"


CANCELABLE = frozenset({RunStatus.PENDING, RunStatus.RUNNING})


@dataclass(slots=True)
class SimulatedRun:
    """One triggered run. Its status is a function of time, so no timers are needed."""

    test_run_id: int
    workspace_id: int
    request: TriggerRequest
    created_at: float
    created_wall: float
    #: Timing copied from the config at trigger time: later config changes do not rewrite
    #: the history of runs that already exist.
    start_after: float
    finish_after: float | None
    ends_in_error: bool
    canceled_at: float | None = None

    def status(self, now: float) -> RunStatus:
        if self.canceled_at is not None:
            return RunStatus.CANCELED
        elapsed = now - self.created_at
        if self.finish_after is not None and elapsed >= self.finish_after:
            return RunStatus.ERROR if self.ends_in_error else RunStatus.FINISHED
        if elapsed < self.start_after:
            return RunStatus.PENDING
        return RunStatus.RUNNING

    def to_json(self, now: float) -> dict[str, Any]:
        return {
            "testRunId": self.test_run_id,
            "workspaceId": self.workspace_id,
            "targetId": self.request.target_id,
            "probeIds": self.request.probe_ids,
            "name": self.request.name,
            "notifyWhenFinished": self.request.notify_when_finished,
            "runAiAnalysis": self.request.run_ai_analysis,
            "status": str(self.status(now)),
            "createdAt": _iso(self.created_wall),
            "canceled": self.canceled_at is not None,
        }


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
            "receivedAt": _iso(self.received_wall),
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


class RunIdsExhaustedError(RuntimeError):
    """The next run id would not fit in an int32."""


@dataclass
class SimulatorStore:
    """Runs, request log and fault randomness of one simulator instance."""

    config: SimulatorConfig
    clock: Callable[[], float] = time.monotonic
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self._runs: dict[int, SimulatedRun] = {}
        self._requests: deque[ReceivedRequest] = deque(maxlen=self.config.request_log_limit)
        self._next_id = self.config.first_run_id
        self._seq = 0
        self._triggers = 0
        self._rng = random.Random(self.config.seed)

    # --- configuration ---------------------------------------------------------------------

    def reconfigure(self, config: SimulatorConfig) -> None:
        """Swap the config; a new seed restarts the dice, existing runs are kept."""
        with self._lock:
            if config.seed != self.config.seed:
                self._rng = random.Random(config.seed)
            if config.request_log_limit != self.config.request_log_limit:
                self._requests = deque(self._requests, maxlen=config.request_log_limit)
            if not self._runs:
                self._next_id = config.first_run_id
            self.config = config

    def clear(self) -> None:
        """Forget all runs and requests and restart ids and dice, as if freshly started."""
        with self._lock:
            self._runs.clear()
            self._requests.clear()
            self._next_id = self.config.first_run_id
            self._seq = 0
            self._triggers = 0
            self._rng = random.Random(self.config.seed)

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
            ends_in_error = bool(config.run_error_rate) and (
                self._rng.random() < config.run_error_rate
            )
            run = SimulatedRun(
                test_run_id=self._next_id,
                workspace_id=workspace_id,
                request=request,
                created_at=self.clock(),
                created_wall=time.time(),
                start_after=config.start_after,
                finish_after=config.finish_after or None,
                ends_in_error=ends_in_error,
            )
            self._runs[run.test_run_id] = run
            self._next_id += 1
            self._triggers += 1
        return run

    def cancel(self, workspace_id: int, test_run_id: int) -> tuple[CancelResult, RunStatus | None]:
        with self._lock:
            run = self._runs.get(test_run_id)
            if run is None or run.workspace_id != workspace_id:
                return CancelResult.NOT_FOUND, None
            now = self.clock()
            status = run.status(now)
            if status not in CANCELABLE:
                return CancelResult.ALREADY_ENDED, status
            run.canceled_at = now
            return CancelResult.CANCELED, RunStatus.CANCELED

    def runs(self) -> list[dict[str, Any]]:
        """Every run as JSON-ready dicts, oldest first, with its status as of now."""
        with self._lock:
            now = self.clock()
            return [run.to_json(now) for run in self._runs.values()]

    def run_status(self, test_run_id: int) -> RunStatus | None:
        with self._lock:
            run = self._runs.get(test_run_id)
            return None if run is None else run.status(self.clock())

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


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch % 1 * 1000):03d}Z"
