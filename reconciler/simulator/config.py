"""What a simulator instance accepts and how it misbehaves: keys, run timing, injected faults."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from reconciler.errors import UsageError
from reconciler.limits import INT32_MAX, INT32_MIN
from reconciler.simulator.export import SHAPES, ExportFault
from reconciler.simulator.outcomes import OutcomeRule

#: The key the simulator accepts when none is configured. Public on purpose: it only ever
#: opens a simulator on the user's own machine, never the real API.
DEMO_KEY = "sim-demo-key"


@dataclass(frozen=True)
class KeyGrant:
    """One accepted API key: a label safe to show and log, and the workspaces it may use.

    ``workspaces=None`` means every workspace. The secret itself is the mapping key in
    ``SimulatorConfig.keys`` and is never written to the request log or to any output.
    """

    label: str
    workspaces: frozenset[int] | None = None

    def allows(self, workspace_id: int) -> bool:
        return self.workspaces is None or workspace_id in self.workspaces


#: Spellings of statuses in the status document: the product's (``Finished``) or upper case.
STATUS_CASES = ("product", "upper")

#: Probe ids a run triggered with ``probeIds: null`` gets (the target's "all probes").
DEFAULT_PROBE_IDS = (101, 102, 103)

#: Fields of ``SimulatorConfig`` that ``SimulatorServer.set_faults`` may change.
FAULT_FIELDS = frozenset(
    {
        "latency",
        "error_rate",
        "rate_limit_rate",
        "retry_after",
        "drop_after_trigger_rate",
        "error_after_trigger_rate",
    }
)


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything that shapes the simulator's answers. Immutable: change it by replacing it.

    Run timing: a run is ``Pending`` for ``start_after`` seconds, then ``Running``; with a
    ``finish_after`` it ends by itself that many seconds after it was triggered, as
    ``Finished`` (or ``Error`` for a ``run_error_rate`` share of runs). ``finish_after=None``
    means runs never end unless cancelled. ``outcomes`` are the outcome rules in force at start
    (see ``reconciler.simulator.outcomes``); more can be added while serving.

    Clock: run timing follows a simulated clock that runs ``time_scale`` times as fast as the
    real one and can be moved ahead (``SimulatorStore.advance_clock``). Latency and
    ``Retry-After`` are network behaviour and stay in real seconds.

    Results: each probe run has ``test_cases_per_probe`` test cases (more if a rule asks for
    more failed and errored ones); ``probe_names`` names probe ids (default ``Probe <id>``).
    The test-case export answers in ``findings_shape``, with ``content_marker`` appended to
    every message when set, and ``export_faults`` in force.
    ``status_case="upper"`` spells statuses ``FINISHED`` in the status document.

    Faults (shares are 0..1 and drawn from one ``random.Random(seed)``, so a seed makes a
    sequence of answers repeatable):

    - ``latency``: seconds every API request waits before it is handled.
    - ``rate_limit_rate``: share of API requests answered 429 with ``Retry-After:
      retry_after``; nothing is done.
    - ``error_rate``: share of API requests answered 500; nothing is done.
    - ``drop_after_trigger_rate``: share of triggers whose run IS created, after which the
      connection is closed without an answer (the client cannot know the outcome).
    - ``error_after_trigger_rate``: share of triggers whose run IS created and then answered
      500 (a 5xx does not prove that nothing happened).
    """

    keys: Mapping[str, KeyGrant] = field(default_factory=lambda: {DEMO_KEY: KeyGrant(label="demo")})
    start_after: float = 0.5
    finish_after: float | None = None
    run_error_rate: float = 0.0
    latency: float = 0.0
    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    retry_after: int = 1
    drop_after_trigger_rate: float = 0.0
    error_after_trigger_rate: float = 0.0
    seed: int | None = None
    first_run_id: int = 1000
    time_scale: float = 1.0
    status_case: str = "product"
    test_cases_per_probe: int = 20
    default_probe_ids: tuple[int, ...] = DEFAULT_PROBE_IDS
    probe_names: Mapping[int, str] = field(default_factory=dict)
    outcomes: tuple[OutcomeRule, ...] = ()
    #: How the test-case export wraps its list (``export.SHAPES``).
    findings_shape: str = "object"
    #: Appended to every message of every test case, for tests that look for content.
    content_marker: str | None = None
    #: Faults of the test-case export in force at start (``export.ExportFault``).
    export_faults: tuple[ExportFault, ...] = ()
    #: Oldest entries of the request log are forgotten beyond this many.
    request_log_limit: int = 10_000

    def __post_init__(self) -> None:
        # Normalise to a plain dict so a caller's later mutation cannot change a frozen config.
        object.__setattr__(self, "keys", dict(self.keys))
        object.__setattr__(self, "probe_names", dict(self.probe_names))
        object.__setattr__(self, "outcomes", tuple(self.outcomes))
        object.__setattr__(self, "export_faults", tuple(self.export_faults))
        object.__setattr__(self, "default_probe_ids", tuple(self.default_probe_ids))
        self._check()

    def _check(self) -> None:
        if not self.keys:
            raise UsageError("simulator: at least one API key must be configured (--key)")
        for index, (secret, grant) in enumerate(self.keys.items(), start=1):
            # The message names the key by position and label, never by its value.
            if not secret or secret != secret.strip():
                raise UsageError(
                    f"simulator: key #{index} ({grant.label}) is empty or has surrounding "
                    "spaces; give the key exactly as the client sends it"
                )
            for workspace in grant.workspaces or ():
                _check_int32(f"workspace of key #{index} ({grant.label})", workspace)
        for name in ("start_after", "latency"):
            _check_seconds(name, getattr(self, name))
        if self.finish_after is not None:
            _check_seconds("finish_after", self.finish_after)
        for name in (
            "run_error_rate",
            "error_rate",
            "rate_limit_rate",
            "drop_after_trigger_rate",
            "error_after_trigger_rate",
        ):
            _check_share(name, getattr(self, name))
        # The shares drawn against the same random number must fit in one unit interval.
        _check_share("rate_limit_rate + error_rate", self.rate_limit_rate + self.error_rate)
        _check_share(
            "drop_after_trigger_rate + error_after_trigger_rate",
            self.drop_after_trigger_rate + self.error_after_trigger_rate,
        )
        if not isinstance(self.retry_after, int) or self.retry_after < 0:
            raise UsageError(
                f"simulator: retry_after must be a whole number of seconds >= 0, "
                f"got {self.retry_after!r}"
            )
        _check_int32("first_run_id", self.first_run_id)
        if self.first_run_id < 1:
            raise UsageError(f"simulator: first_run_id must be >= 1, got {self.first_run_id}")
        if self.request_log_limit < 1:
            raise UsageError("simulator: request_log_limit must be >= 1")
        self._check_clock_and_results()

    def _check_clock_and_results(self) -> None:
        if (
            isinstance(self.time_scale, bool)
            or not math.isfinite(self.time_scale)
            or self.time_scale <= 0
        ):
            raise UsageError(
                f"simulator: time_scale must be a number > 0 (1 is real time, 3600 makes an "
                f"hour pass in a second), got {self.time_scale!r}"
            )
        if self.status_case not in STATUS_CASES:
            raise UsageError(
                f"simulator: status_case must be one of {', '.join(STATUS_CASES)}, "
                f"got {self.status_case!r}"
            )
        if not isinstance(self.test_cases_per_probe, int) or not (
            0 <= self.test_cases_per_probe <= 1_000_000
        ):
            raise UsageError(
                "simulator: test_cases_per_probe must be a whole number from 0 to 1000000, "
                f"got {self.test_cases_per_probe!r}"
            )
        for probe in (*self.default_probe_ids, *self.probe_names):
            _check_int32("probe id", probe)
        if self.findings_shape not in SHAPES:
            raise UsageError(
                f"simulator: findings_shape must be one of {', '.join(SHAPES)}, "
                f"got {self.findings_shape!r}"
            )
        for rule in self.outcomes:
            if rule.name is None:
                raise UsageError(
                    "simulator: outcome rules given at start select runs by name; "
                    "set a rule by testRunId once the run exists (POST /_simulator/outcomes)"
                )

    def replace(self, **changes: object) -> SimulatorConfig:
        """A copy with ``changes`` applied and checked."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def spell(self, status: str) -> str:
        """``status`` as the status document spells it under ``status_case``."""
        return status.upper() if self.status_case == "upper" else status

    def probe_name(self, probe_id: int) -> str:
        return self.probe_names.get(probe_id, f"Probe {probe_id}")

    def grant_for(self, key: str | None) -> KeyGrant | None:
        """The grant of ``key``, or None when it is missing or not configured."""
        if key is None:
            return None
        return self.keys.get(key)


def _check_seconds(name: str, value: float) -> None:
    if isinstance(value, bool) or not math.isfinite(value) or value < 0:
        raise UsageError(f"simulator: {name} must be a number of seconds >= 0, got {value!r}")


def _check_share(name: str, value: float) -> None:
    if isinstance(value, bool) or not 0.0 <= value <= 1.0:
        raise UsageError(f"simulator: {name} must be a share between 0 and 1, got {value!r}")


def _check_int32(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not INT32_MIN <= value <= INT32_MAX:
        raise UsageError(f"simulator: {name} must be an int32, got {value!r}")
