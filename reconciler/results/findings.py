"""Findings: the FAILED test cases behind a run's counts, as data.

A *finding* is a test case whose result is FAILED. Its identity across runs is its probe, attack,
variation, strategy and red teamer (``fingerprint``): the same attack getting through the same
probe tonight and last night is one finding, *known*; one that was not there last time is *new*;
one the previous run had and this run, having run that probe, does not, is *fixed*.

Two shapes, on purpose:

- ``FindingRecord`` is what state keeps (``RunResult.findings``): identity and where it was seen,
  never the attack prompt or the target's answer. At most ``MAX_RECORDED`` a run, plus how many
  more there were, so a run's record stays small however badly it went.
- ``Finding`` is what a read gave now: the record plus the messages, held in memory only, shown
  only when a user asks with ``--include-content``.

Everything here is pure: ``diff`` compares a run's recorded findings with its key's previous ended
run, and every view (text, JSON, Markdown, JUnit, SARIF, HTML) renders what it returns.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from typing import Any, Final

from pydantic import (
    SerializationInfo,
    SerializerFunctionWrapHandler,
    StrictInt,
    field_validator,
    model_serializer,
)

from reconciler.results.camel import CamelModel, Count

#: At most this many findings of one run are recorded in state; the rest are counted.
MAX_RECORDED: Final = 200
#: The fingerprint scheme's version, part of SARIF's ``partialFingerprints`` key: a change of
#: the scheme gets a new key, so code scanning never matches old alerts against new hashes.
FINGERPRINT_VERSION: Final = "v1"
#: Why new cannot be told from known when the export names no attack.
UNNAMED: Final = "the export named no attack for some test cases"
#: The result value of a finding, as the export is asked for it.
FAILED: Final = "FAILED"
#: The serialisation context under which ``RecordedFindings`` writes its records as rows
#: (``ROW_FIELDS``): what the state codec asks for, for the state file and the journal.
AS_ROWS: Final = "findingsAsRows"


def _normal(value: str | int | None) -> str:
    """One spelling per identity field: case, surrounding and repeated blanks do not count."""
    if value is None:
        return ""
    return " ".join(str(value).split()).casefold()


def fingerprint(
    probe: int | str | None,
    attack: str | None,
    variation: str | None,
    strategy: str | None,
    red_teamer: str | None,
    *,
    unnamed: str | None = None,
) -> str:
    """The identity of a finding across runs: sha256 over the five fields, each normalised
    (case-insensitive, blanks collapsed) and separated by a unit separator so that no field's
    text can run into the next; the first 20 hex digits (80 bits) are kept.

    ``probe`` is the probe id, or its name when the status document gave no id. The scheme is
    documented in docs/FINDINGS.md; changing it makes every known finding new once, so it
    carries ``FINGERPRINT_VERSION``.

    ``unnamed``: the test case id of a finding whose attack the export did not name. Two such
    test cases are not known to be one attack, so the id, as a sixth field, keeps them apart
    (each its own finding, never merged); fingerprints of named attacks are unchanged.
    """
    fields: tuple[int | str | None, ...] = (probe, attack, variation, strategy, red_teamer)
    if unnamed is not None and attack is None:
        fields += (unnamed,)
    text = "\x1f".join(_normal(f) for f in fields)
    # surrogatepass: a lone surrogate from a JSON "\ud800" must hash, not crash.
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:20]


class FindingRecord(CamelModel):
    """One finding as state keeps it: who got through where, never what was said."""

    fingerprint: str
    probe_id: StrictInt | None = None
    probe_run_id: StrictInt | None = None
    attack: str | None = None
    variation: str | None = None
    strategy: str | None = None
    red_teamer: str | None = None
    #: The platform's id of the (first) test case behind it, verbatim.
    test_case_id: str | None = None
    #: ``detectionTime`` as the API gave it.
    detected_at: str | None = None
    #: Test cases of the run with this identity (the export may list an attack twice).
    occurrences: Count = 1

    @model_serializer(mode="wrap")
    def _compact(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Unknown fields and the usual single occurrence are left out.
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if v is not None and (k != "occurrences" or v != 1)}

    def row(self) -> list[str | int | None]:
        """The record as a row of ``ROW_FIELDS``, trailing unknowns and a single occurrence
        left out (the state's form, see ``RecordedFindings``)."""
        row: list[str | int | None] = [
            self.fingerprint,
            self.probe_id,
            self.probe_run_id,
            self.attack,
            self.variation,
            self.strategy,
            self.red_teamer,
            self.test_case_id,
            self.detected_at,
        ]
        if self.occurrences != 1:
            row.append(self.occurrences)
        while row[-1] is None:
            row.pop()
        return row

    @property
    def identified(self) -> bool:
        """The export named the attack: the finding can be recognised in another run."""
        return self.attack is not None

    def label(self) -> str:
        """``CTLO-6-3 (variation base64, strategy multi-turn, red teamer x)``: attack first."""
        parts = [
            f"{name} {value}"
            for name, value in (
                ("variation", self.variation),
                ("strategy", self.strategy),
                ("red teamer", self.red_teamer),
            )
            if value is not None
        ]
        attack = self.attack if self.attack is not None else f"test case {self.test_case_id or '?'}"
        return f"{attack} ({', '.join(parts)})" if parts else attack


class RecordedFindings(CamelModel):
    """A run's findings as recorded with its result: at most ``MAX_RECORDED`` records, sorted by
    fingerprint (so two runs with the same findings keep the same ones), and the count of the
    rest."""

    records: tuple[FindingRecord, ...] = ()
    #: Findings beyond ``MAX_RECORDED``, counted, not recorded.
    more: Count = 0
    #: When they were read (``utc_now`` format).
    read_at: str

    @field_validator("records", mode="before")
    @classmethod
    def _from_rows(cls, value: Any) -> Any:
        # The state's rows become records; records written as objects read as well.
        if not isinstance(value, list):
            return value
        return [_from_row(item) if isinstance(item, list) else item for item in value]

    @model_serializer(mode="wrap")
    def _rows(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        # In state, each record is a row of ``ROW_FIELDS``: as objects, the field names were
        # half of a state of 1,000 runs with 10 findings each (docs/PERFORMANCE.md, "Findings").
        if not (info.context and info.context.get(AS_ROWS)):
            data: dict[str, Any] = handler(self)
            return data
        return {
            "more": self.more,
            "readAt": self.read_at,
            "records": [record.row() for record in self.records],
        }

    @property
    def total(self) -> int:
        return len(self.records) + self.more

    @property
    def identified(self) -> bool:
        """Every recorded finding names its attack: new can be told from known."""
        return all(r.identified for r in self.records)


#: A record's fields in the order of its row in state (``FindingRecord.row``).
ROW_FIELDS: Final = (
    "fingerprint",
    "probe_id",
    "probe_run_id",
    "attack",
    "variation",
    "strategy",
    "red_teamer",
    "test_case_id",
    "detected_at",
    "occurrences",
)


def _from_row(row: list[Any]) -> dict[str, Any]:
    if not row or len(row) > len(ROW_FIELDS):
        raise ValueError(
            f"a findings row holds 1 to {len(ROW_FIELDS)} values "
            f"({', '.join(ROW_FIELDS)}), not {len(row)}"
        )
    return dict(zip(ROW_FIELDS, row, strict=False))


@dataclass(frozen=True)
class Message:
    """One message of a test case: the attack sent (``user``) or the target's answer
    (``assistant``). Untrusted, sensitive text: kept in memory, shown only when asked for."""

    role: str
    content: str


@dataclass(frozen=True)
class Finding:
    """A finding as a read gave it now: its record, the probe's name, the result value as the
    API spelled it (kept verbatim when nobody knows it) and the messages (content)."""

    record: FindingRecord
    probe_name: str | None = None
    result: str = FAILED
    messages: tuple[Message, ...] = ()


def record_findings(findings: list[FindingRecord], read_at: str) -> RecordedFindings:
    """Merge duplicates (one identity, several test cases) and cap what is kept."""
    merged: dict[str, FindingRecord] = {}
    for record in findings:
        seen = merged.get(record.fingerprint)
        if seen is None:
            merged[record.fingerprint] = record
        else:
            merged[record.fingerprint] = seen.model_copy(
                update={"occurrences": seen.occurrences + record.occurrences}
            )
    ordered = tuple(merged[k] for k in sorted(merged))
    return RecordedFindings(
        records=ordered[:MAX_RECORDED],
        more=max(0, len(ordered) - MAX_RECORDED),
        read_at=read_at,
    )


@dataclass(frozen=True)
class FindingsDiff:
    """A run's findings against its key's previous ended run.

    ``determined`` is False when new cannot be told from known: the export named no attack for
    some finding (of this run or the previous), or one of the two runs had more findings than
    state keeps. Such a run's findings all count as new (a gate on new findings then fails
    closed) and every view says why.
    """

    new: tuple[FindingRecord, ...]
    known: tuple[FindingRecord, ...]
    fixed: tuple[FindingRecord, ...]
    #: Findings beyond the recorded ones (not listed; counted as new).
    more: int = 0
    #: False: new could not be told from known; ``undetermined_because`` says why.
    determined: bool = True
    undetermined_because: str | None = None
    #: The previous ended run compared with, None when there was none.
    previous_run_id: int | None = None

    @property
    def new_count(self) -> int:
        return len(self.new) + self.more

    @property
    def total(self) -> int:
        return self.new_count + len(self.known)

    def describe(self) -> str:
        """``3 new, 1 known; 2 fixed`` (the words ``status`` puts after "4 failed")."""
        text = f"{self.new_count} new, {len(self.known)} known; {len(self.fixed)} fixed"
        return text if self.determined else f"{text}; new and known not told apart"


def _probe_key(record: FindingRecord) -> int | None:
    return record.probe_id


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
    ordered = new_first_order(current.records)
    why = _undetermined(current, previous)
    if previous is None or why is not None:
        # No previous run: all are new. Not told apart: all count as new, and the diff says
        # why rather than calling them new silently (even with no previous run, an unnamed
        # finding could never be recognised in the next one).
        return FindingsDiff(
            new=ordered,
            known=(),
            fixed=(),
            more=current.more,
            determined=why is None,
            undetermined_because=why,
            previous_run_id=previous_run_id if previous is not None else None,
        )
    before = {r.fingerprint for r in previous.records}
    now = {r.fingerprint for r in current.records}
    return FindingsDiff(
        new=tuple(r for r in ordered if r.fingerprint not in before),
        known=tuple(r for r in ordered if r.fingerprint in before),
        fixed=new_first_order(
            tuple(
                r
                for r in previous.records
                if r.fingerprint not in now and _probe_key(r) in ran_probes
            )
        ),
        previous_run_id=previous_run_id,
    )


def _undetermined(current: RecordedFindings, previous: RecordedFindings | None) -> str | None:
    if not current.identified or (previous is not None and not previous.identified):
        return UNNAMED
    if previous is not None and (current.more or previous.more):
        return f"more than {MAX_RECORDED} findings in a run: only {MAX_RECORDED} are recorded"
    return None


def new_first_order(records: tuple[FindingRecord, ...]) -> tuple[FindingRecord, ...]:
    """Grouped by probe, then by attack and the rest: the order every view lists them in."""
    return tuple(sorted(records, key=_order))


def _order(r: FindingRecord) -> tuple[int, str, str, str, str, str]:
    return (
        r.probe_id if r.probe_id is not None else -1,
        _sort_text(r.attack),
        _sort_text(r.variation),
        _sort_text(r.strategy),
        _sort_text(r.red_teamer),
        r.fingerprint,
    )


# Every status sorts the findings of every run it shows (10,000 runs with 10 findings each:
# 400,000 normalisations), and the same few attack, variation, strategy and red teamer
# names come back run after run: remembered, a sort key costs a lookup.
@functools.lru_cache(maxsize=8192)
def _sort_text(value: str | None) -> str:
    return _normal(value)


@dataclass(frozen=True)
class FindingsRead:
    """What reading one run's findings gave now: every finding read (with content, in memory
    only), and why some probe runs could not be read. ``recorded`` is what goes into state, set
    only when every probe run with failures was read: a partial read is shown, never recorded,
    so the next command reads the run again."""

    test_run_id: int
    findings: tuple[Finding, ...] = ()
    #: One sentence per probe run that could not be read (names the run and what to do).
    errors: tuple[str, ...] = ()
    recorded: RecordedFindings | None = None
    #: Export requests sent.
    requests: int = 0

    @property
    def complete(self) -> bool:
        return not self.errors
