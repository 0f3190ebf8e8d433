"""New, known and fixed findings: a run's recorded findings against those of its key's previous
ended run (``diff``), and which findings a run is compared with (``compare``).

Apart from ``findings`` because ``compare`` needs the result model, which itself holds recorded
findings, and because every command that reads a state imports ``findings`` (a plan too) while
only the commands that show results compare them.
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass, field
from typing import Final

from reconciler.results.findings import (
    MAX_RECORDED,
    ROW_FIELDS,
    FindingRecord,
    RecordedFindings,
    new_first_order,
)
from reconciler.results.model import RunResult

#: Why new cannot be told from known when the export names no attack.
UNNAMED: Final = "the export named no attack for some test cases"
_PROBE: Final = ROW_FIELDS.index("probe_id")
_FINGERPRINT_OF: Final = operator.itemgetter(ROW_FIELDS.index("fingerprint"))


@dataclass(frozen=True)
class FindingsDiff:
    """A run's findings against its key's previous ended run.

    ``determined`` is False when new cannot be told from known: the export named no attack for
    some finding (of this run or the previous), or one of the two runs had more findings than
    state keeps. Such a run's findings all count as new (a gate on new findings then fails
    closed) and every view says why.

    The counts come from fingerprints alone; ``new``, ``known`` and ``fixed`` (records in the
    order every view lists them) are built when first asked for. ``status`` shows only the
    counts, of every run it lists.
    """

    #: The run's own findings.
    current: RecordedFindings
    #: The previous ended run's findings to compare with; None when every finding of
    #: ``current`` counts as new (no previous run, or new not told from known).
    previous: RecordedFindings | None = None
    #: The probe ids the current run ran: a previous finding is fixed only where its probe ran.
    ran_probes: frozenset[int | None] = frozenset()
    #: False: new could not be told from known; ``undetermined_because`` says why.
    determined: bool = True
    undetermined_because: str | None = None
    #: The previous ended run compared with, None when there was none.
    previous_run_id: int | None = None

    #: Recorded new, known and fixed findings, counted by fingerprint when the diff is made.
    new_listed: int = field(init=False, compare=False)
    known_count: int = field(init=False, compare=False)
    fixed_count: int = field(init=False, compare=False)

    def __post_init__(self) -> None:
        rows = self.current.rows
        known = fixed = 0
        if self.previous is not None:
            before = self.previous.fingerprints
            known = sum(map(before.__contains__, map(_FINGERPRINT_OF, rows)))
            now = self.current.fingerprints
            fixed = sum(
                1
                for row in self.previous.rows
                if row[0] not in now
                and (row[_PROBE] if len(row) > _PROBE else None) in self.ran_probes
            )
        # A frozen dataclass sets its own derived fields this way.
        object.__setattr__(self, "new_listed", len(rows) - known)
        object.__setattr__(self, "known_count", known)
        object.__setattr__(self, "fixed_count", fixed)

    @functools.cached_property
    def new(self) -> tuple[FindingRecord, ...]:
        ordered = new_first_order(self.current.records)
        if self.previous is None:
            return ordered
        before = self.previous.fingerprints
        return tuple(r for r in ordered if r.fingerprint not in before)

    @functools.cached_property
    def known(self) -> tuple[FindingRecord, ...]:
        if self.previous is None:
            return ()
        before = self.previous.fingerprints
        return tuple(r for r in new_first_order(self.current.records) if r.fingerprint in before)

    @functools.cached_property
    def fixed(self) -> tuple[FindingRecord, ...]:
        if self.previous is None:
            return ()
        now = self.current.fingerprints
        return new_first_order(
            tuple(
                r
                for r in self.previous.records
                if r.fingerprint not in now and r.probe_id in self.ran_probes
            )
        )

    @property
    def more(self) -> int:
        """Findings beyond the recorded ones (not listed; counted as new)."""
        return self.current.more

    @property
    def new_count(self) -> int:
        return self.new_listed + self.more

    @property
    def total(self) -> int:
        return self.new_count + self.known_count

    def describe(self) -> str:
        """``3 new, 1 known; 2 fixed`` (the words ``status`` puts after "4 failed")."""
        text = f"{self.new_count} new, {self.known_count} known; {self.fixed_count} fixed"
        return text if self.determined else f"{text}; new and known not told apart"


def diff(
    current: RecordedFindings,
    previous: RecordedFindings | None,
    *,
    ran_probes: frozenset[int | None],
    previous_run_id: int | None = None,
) -> FindingsDiff:
    """New, known and fixed findings of ``current`` against ``previous`` (the findings of the
    key's previous ended run; None when there was none: everything is new).

    ``ran_probes`` are the probe ids of the current run's probe runs: a previous finding is
    fixed only where this run ran its probe again and did not find it.
    """
    why = _undetermined(current, previous)
    if previous is None or why is not None:
        # No previous run: all are new. Not told apart: all count as new, and the diff says
        # why rather than calling them new silently (even with no previous run, an unnamed
        # finding could never be recognised in the next one).
        return FindingsDiff(
            current,
            determined=why is None,
            undetermined_because=why,
            previous_run_id=previous_run_id if previous is not None else None,
        )
    return FindingsDiff(current, previous, ran_probes=ran_probes, previous_run_id=previous_run_id)


def _undetermined(current: RecordedFindings, previous: RecordedFindings | None) -> str | None:
    if not current.identified or (previous is not None and not previous.identified):
        return UNNAMED
    if previous is not None and (current.more or previous.more):
        return f"more than {MAX_RECORDED} findings in a run: only {MAX_RECORDED} are recorded"
    return None


def findings_of(result: RunResult) -> RecordedFindings | None:
    """What is known of an ended run's findings: the recorded ones; none at all for a run that
    failed no test case (nothing to read); None when it failed some and they are not recorded."""
    if result.findings is not None:
        return result.findings
    if result.counts.failed == 0:
        return RecordedFindings(read_at=result.seen_at)
    return None


def compare(result: RunResult, previous: RunResult | None) -> FindingsDiff | None:
    """``result``'s findings against ``previous`` (the key's previous ended run, or None): None
    when ``result``'s own findings are not known; undetermined when the previous run's are not."""
    current = findings_of(result)
    if current is None:
        return None
    ran = frozenset(p.probe_id for p in result.probe_runs)
    if previous is None:
        return diff(current, None, ran_probes=ran)
    before = findings_of(previous)
    if before is None:
        return FindingsDiff(
            current,
            determined=False,
            undetermined_because=(
                f"the findings of the previous run {previous.test_run_id} are not recorded"
            ),
            previous_run_id=previous.test_run_id,
        )
    return diff(current, before, ran_probes=ran, previous_run_id=previous.test_run_id)
