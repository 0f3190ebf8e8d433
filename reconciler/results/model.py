"""The result of a test run as data: what the status endpoint said, normalised.

Statuses compare case-insensitively (the API's documentation shows both ``FINISHED`` and
``Finished``): a known status is kept in the product's spelling, a value nobody knows is kept
verbatim and counts as not ended, so a new status on the platform never makes reconciler treat
a running run as done.

A ``RunResult`` of an ended run never changes, so it is recorded in state (``TrackedRun.result``)
and the run is never asked about again. The models are frozen pydantic models because they are
part of the state document; their wire names are camelCase like the rest of it.
"""

# Not ``from __future__ import annotations``: pydantic would compile every annotation of
# these models back from its string (docs/ARCHITECTURE.md, "Start-up stays light").

from typing import Annotated, Any, Final

from pydantic import Field, GetCoreSchemaHandler, GetPydanticSchema, StrictInt
from pydantic_core import CoreSchema, core_schema

from reconciler.results.camel import CamelModel, Count
from reconciler.results.findings import RecordedFindings

__all__ = ["CamelModel", "Count", "Counts", "ProbeRunResult", "RunResult"]

PENDING: Final = "Pending"
RUNNING: Final = "Running"
FINISHED: Final = "Finished"
CANCELED: Final = "Canceled"
ERROR: Final = "Error"

#: Known statuses by their lower-case form, mapped to the product's spelling.
KNOWN_STATUSES: Final = {s.lower(): s for s in (PENDING, RUNNING, FINISHED, CANCELED, ERROR)}
#: Statuses after which a run never changes again.
ENDED_STATUSES: Final = frozenset({FINISHED, CANCELED, ERROR})


def canonical_status(value: str) -> str:
    """The product's spelling of a known status (``FINISHED`` → ``Finished``); others verbatim."""
    return KNOWN_STATUSES.get(value.strip().lower(), value)


def is_ended(status: str) -> bool:
    """True for Finished, Canceled and Error in any letter case; False for anything else."""
    return canonical_status(status) in ENDED_STATUSES


def _status_schema(_source: Any, _handler: GetCoreSchemaHandler) -> CoreSchema:
    # A state file holds canonical spellings only: those are matched in pydantic-core, with no
    # Python call for each of the 40,000 statuses of 10,000 recorded runs; any other string
    # (an API's "FINISHED", an unknown status) goes through ``canonical_status``.
    return core_schema.union_schema(
        [
            core_schema.literal_schema(list(KNOWN_STATUSES.values())),
            core_schema.no_info_after_validator_function(
                canonical_status, core_schema.str_schema()
            ),
        ],
        mode="left_to_right",
        custom_error_type="string_type",
    )


#: A status string stored in its canonical spelling (unknown values verbatim).
Status = Annotated[str, GetPydanticSchema(_status_schema)]


class Counts(CamelModel):
    """Test cases of a run or a probe run: how many there are and how they came out."""

    total: Count = 0
    passed: Count = 0
    failed: Count = 0
    errored: Count = 0

    def __add__(self, other: "Counts") -> "Counts":
        return Counts(
            total=self.total + other.total,
            passed=self.passed + other.passed,
            failed=self.failed + other.failed,
            errored=self.errored + other.errored,
        )

    @property
    def failed_rate(self) -> float:
        """failed / total; 0.0 for a run with no test cases."""
        return self.failed / self.total if self.total else 0.0

    def describe(self) -> str:
        """``3 passed, 1 failed, 0 errored of 4``."""
        return f"{self.passed} passed, {self.failed} failed, {self.errored} errored of {self.total}"


class ProbeRunResult(CamelModel):
    """One probe's part of a run (``probeRuns[]`` of the status document)."""

    probe_name: str
    probe_run_id: StrictInt | None = None
    probe_id: StrictInt | None = None
    status: Status
    counts: Counts = Counts()

    @property
    def ended(self) -> bool:
        # ``status`` is stored in its canonical spelling (``Status``): no need to normalise
        # it again on each of the tens of thousands of calls a view over many runs makes.
        return self.status in ENDED_STATUSES


class RunResult(CamelModel):
    """What the status endpoint said about one run, and when reconciler read it."""

    test_run_id: StrictInt
    status: Status
    #: ``executionDate`` as the API gave it (ISO 8601), None before the run started.
    execution_date: str | None = None
    probe_runs: tuple[ProbeRunResult, ...] = ()
    #: When reconciler read it (``reconciler.state.model.utc_now`` format).
    seen_at: str
    #: The run's findings (FAILED test cases), once read; None: not read (or none to read), and
    #: left out of dumps, so that results recorded before findings existed serialise exactly as
    #: they did (``exclude_if``: docs/ARCHITECTURE.md, "Start-up stays light").
    findings: RecordedFindings | None = Field(
        default=None, exclude_if=lambda findings: findings is None
    )

    @property
    def ended(self) -> bool:
        # ``status`` is stored in its canonical spelling (``Status``): no need to normalise
        # it again on each of the tens of thousands of calls a view over many runs makes.
        return self.status in ENDED_STATUSES

    @property
    def counts(self) -> Counts:
        """The run's test cases over all its probe runs."""
        # Every row of every view asks, several times (status over 10,000 runs: 40,000 times):
        # summed once and kept with the probe runs it was summed from, outside the fields
        # (pydantic compares and dumps fields only; a copy with other probe runs sums again).
        kept: tuple[tuple[ProbeRunResult, ...], Counts] | None = self.__dict__.get(_COUNTS)
        if kept is None or kept[0] is not self.probe_runs:
            kept = (self.probe_runs, _sum(self.probe_runs))
            self.__dict__[_COUNTS] = kept
        return kept[1]


#: Where ``RunResult.counts`` keeps its sum (not a field).
_COUNTS: Final = "_counts_of_probe_runs"


def _sum(probe_runs: tuple[ProbeRunResult, ...]) -> Counts:
    # One pass and one model, no intermediate Counts per probe run.
    total = passed = failed = errored = 0
    for probe_run in probe_runs:
        counts = probe_run.counts
        total += counts.total
        passed += counts.passed
        failed += counts.failed
        errored += counts.errored
    return Counts(total=total, passed=passed, failed=failed, errored=errored)
