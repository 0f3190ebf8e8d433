"""Gates: when a run's result fails a pipeline, as a pure function of result, gate and history.

A ``gate:`` block may stand in a run, in a spec file's ``defaults``, or in ``reconciler.yaml``;
the most specific wins, field by field (``Gate.over``). A gate is never sent to the API, so it
is not part of ``RunAttributes``: editing one re-evaluates results and re-triggers nothing.

``evaluate`` returns a ``Verdict`` whose reasons are sentences a person reads in a CI log
("4 failed test cases, at most 0 allowed", "ended in Error"); every view (text, JSON, JUnit,
Markdown, HTML) and the exit code are made from verdicts, never by evaluating again.
"""

# Not ``from __future__ import annotations``: pydantic would compile every annotation of
# these models back from its string (docs/ARCHITECTURE.md, "Start-up stays light").

import enum
from typing import TYPE_CHECKING, Annotated, Final, NamedTuple

from pydantic import Field, StrictFloat, StrictInt, field_validator

from reconciler.records import to_camel
from reconciler.results.model import (
    CANCELED,
    ENDED_STATUSES,
    ERROR,
    CamelModel,
    RunResult,
    canonical_status,
)

if TYPE_CHECKING:
    from reconciler.results.baseline import FindingsDiff

#: The ended statuses that fail a gate unless ``failOn`` says otherwise.
DEFAULT_FAIL_ON: Final = (ERROR, CANCELED)

NonNegativeInt = Annotated[StrictInt, Field(ge=0)]
Rate = Annotated[StrictFloat | StrictInt, Field(ge=0, le=1)]


class Gate(CamelModel):
    """One ``gate:`` block; every limit optional. ``None`` means "not set here"."""

    max_failed: NonNegativeInt | None = Field(
        default=None, description="failed test cases allowed in the run, over all its probe runs"
    )
    max_failed_rate: Rate | None = Field(
        default=None, description="failed / total test cases allowed, between 0 and 1"
    )
    max_errored: NonNegativeInt | None = Field(
        default=None, description="errored test cases allowed"
    )
    fail_on: tuple[str, ...] | None = Field(
        default=None,
        description="ended statuses that fail the gate (Finished, Canceled, Error); "
        "default [Error, Canceled]",
    )
    max_failed_increase: NonNegativeInt | None = Field(
        default=None,
        description="more failed test cases than the key's previous ended run allowed; "
        "0 fails any regression",
    )
    max_new_findings: NonNegativeInt | None = Field(
        default=None,
        description="findings (failed test cases) not among the key's previous ended run's "
        "allowed; 0 fails any new attack that got through",
    )

    @field_validator("fail_on", mode="before")
    @classmethod
    def _ended_statuses(cls, value: object) -> object:
        if not isinstance(value, list | tuple):
            return value
        statuses = []
        for item in value:
            if not isinstance(item, str) or canonical_status(item) not in ENDED_STATUSES:
                known = ", ".join(sorted(ENDED_STATUSES))
                raise ValueError(f"{item!r} is not an ended status; use any of {known}")
            statuses.append(canonical_status(item))
        return tuple(dict.fromkeys(statuses))

    def over(self, base: "Gate") -> "Gate":
        """This gate, with the fields it does not set taken from ``base`` (less specific)."""
        mine = self.model_dump(exclude_none=True, by_alias=False)
        return base.model_copy(update=mine)

    @property
    def fail_on_statuses(self) -> tuple[str, ...]:
        return self.fail_on if self.fail_on is not None else DEFAULT_FAIL_ON

    def describe(self) -> str:
        """``maxFailed 0, maxFailedRate 0.05, failOn [Error, Canceled]``, for messages."""
        parts = [
            f"{to_camel(name)} {value}"
            for name, value in self.model_dump(by_alias=False).items()
            if value is not None and name != "fail_on"
        ]
        parts.append(f"failOn [{', '.join(self.fail_on_statuses)}]")
        return ", ".join(parts)


class Outcome(enum.Enum):
    """A verdict's word. PENDING: the run has not ended, so its gate says nothing yet."""

    PASSED = "passed"
    FAILED = "failed"
    PENDING = "pending"


# A NamedTuple: immutable like a frozen dataclass, at a quarter of the cost to define on
# Python 3.11 (every command that reads specs imports this module).
class Verdict(NamedTuple):
    """What a gate made of a result: the outcome, why it failed, and what else to know."""

    outcome: Outcome
    #: Why it failed, one sentence per limit crossed (empty when it passed).
    reasons: tuple[str, ...] = ()
    #: Things worth saying that are not failures ("no previous result: maxFailedIncrease does
    #: not apply yet").
    notes: tuple[str, ...] = ()
    #: Failed only because something the gate needs could not be known (findings not read):
    #: failed closed, and an error (exit 1) rather than a verdict on the run (exit 3).
    undecided: bool = False

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASSED

    @property
    def failed(self) -> bool:
        return self.outcome is Outcome.FAILED


def evaluate(
    result: RunResult | None,
    gate: Gate,
    previous: RunResult | None = None,
    *,
    findings: "FindingsDiff | None" = None,
    findings_unknown: str | None = None,
) -> Verdict:
    """The verdict of ``gate`` on ``result``; ``previous`` is the key's last earlier ended run
    (for ``maxFailedIncrease``), ``findings`` the run's findings against it (for
    ``maxNewFindings``; ``findings_unknown`` says why they are not known). A run not ended (or
    never read) is PENDING."""
    if result is None or not result.ended:
        return Verdict(Outcome.PENDING)
    reasons: list[str] = []
    notes: list[str] = []
    if result.status in gate.fail_on_statuses:
        reasons.append(f"ended in {result.status}")
    counts = result.counts
    if gate.max_failed is not None and counts.failed > gate.max_failed:
        reasons.append(f"{_cases(counts.failed, 'failed')}, at most {gate.max_failed} allowed")
    if gate.max_failed_rate is not None and counts.failed_rate > gate.max_failed_rate:
        reasons.append(
            f"{_percent(counts.failed_rate)} of test cases failed ({counts.failed} of "
            f"{counts.total}), at most {_percent(gate.max_failed_rate)} allowed"
        )
    if gate.max_errored is not None and counts.errored > gate.max_errored:
        reasons.append(f"{_cases(counts.errored, 'errored')}, at most {gate.max_errored} allowed")
    if gate.max_failed_increase is not None:
        if previous is None:
            notes.append("no previous result of this key: maxFailedIncrease does not apply yet")
        else:
            increase = counts.failed - previous.counts.failed
            if increase > gate.max_failed_increase:
                reasons.append(
                    f"{counts.failed} failed test cases, {increase} more than the previous run "
                    f"{previous.test_run_id} ({previous.counts.failed}); at most "
                    f"{gate.max_failed_increase} more allowed"
                )
    undecided = False
    if gate.max_new_findings is not None:
        why, missing = _new_findings(gate.max_new_findings, findings, findings_unknown)
        undecided = missing and not reasons
        reasons += why
    outcome = Outcome.FAILED if reasons else Outcome.PASSED
    return Verdict(outcome, tuple(reasons), tuple(notes), undecided=undecided)


#: How many new attacks a gate's reason names before "and N more".
NAMED_IN_REASON: Final = 5


def _new_findings(
    limit: int, findings: "FindingsDiff | None", unknown: str | None
) -> tuple[list[str], bool]:
    """Why ``maxNewFindings`` fails, if it does, and whether for want of data. It fails
    closed: findings that could not be read fail it, saying so; new ones that cannot be told
    from known ones count as new."""
    if findings is None:
        why = unknown or "they were not read"
        return [
            f"maxNewFindings {limit} cannot be checked: the findings are not known ({why})"
        ], True
    count = findings.new_count
    if count <= limit:
        return [], False
    if not findings.determined:
        return [
            f"{count} findings that cannot be told from known ones "
            f"({findings.undetermined_because}), counted as new; at most {limit} new allowed"
        ], False
    named = [r.label() for r in findings.new[:NAMED_IN_REASON]]
    rest = count - len(named)
    listed = "; ".join(named) + (f"; and {rest} more" if rest else "")
    against = (
        f"than the previous run {findings.previous_run_id}"
        if findings.previous_run_id is not None
        else "(no previous run: all are new)"
    )
    return [
        f"{count} new finding{'s' if count != 1 else ''} {against}, at most {limit} allowed: "
        f"{listed}"
    ], False


def previous_result(history: tuple[RunResult, ...]) -> RunResult | None:
    """The newest earlier run that ended by finishing: a cancelled or failed-to-run
    predecessor found nothing to compare with."""
    return next((r for r in reversed(history) if r.status not in (CANCELED, ERROR)), None)


def _cases(count: int, how: str) -> str:
    return f"{count} {how} test case{'' if count == 1 else 's'}"


def _percent(rate: float) -> str:
    return f"{rate * 100:.4g}%"
