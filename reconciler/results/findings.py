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
  only when a user asks with ``--include-content`` (``reconciler.results.findings_read``).

Everything here is pure. ``reconciler.results.baseline.diff`` compares a run's recorded findings
with its key's previous ended run, and every view (text, JSON, Markdown, JUnit, SARIF, HTML)
renders what it returns. Those two live apart from this module because every command that
reads a state imports it (a plan too), and none of them needs them.
"""

# Not ``from __future__ import annotations``: pydantic would compile every annotation of
# these models back from its string (docs/ARCHITECTURE.md, "Start-up stays light").

import functools
import hashlib
import operator
from typing import Annotated, Any, Final, cast

from pydantic import (
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetPydanticSchema,
    PlainValidator,
    SerializationInfo,
    StrictInt,
    ValidationError,
    field_validator,
)
from pydantic_core import CoreSchema, core_schema

from reconciler.results.camel import CamelModel, Count
from reconciler.validation import describe_validation_error

#: At most this many findings of one run are recorded in state; the rest are counted.
MAX_RECORDED: Final = 200
#: The fingerprint scheme's version, part of SARIF's ``partialFingerprints`` key: a change of
#: the scheme gets a new key, so code scanning never matches old alerts against new hashes.
FINGERPRINT_VERSION: Final = "v1"
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


def _unknown(value: object) -> bool:
    return value is None


class FindingRecord(CamelModel):
    """One finding as state keeps it: who got through where, never what was said."""

    # Built when first used: state holds findings as rows (``RecordedFindings``), so reading
    # a state builds no record (a plan never does; startup time).
    model_config = ConfigDict(**CamelModel.model_config, defer_build=True)

    # Unknown fields (None) and the usual single occurrence are left out of dumps
    # (``exclude_if``, not a model serializer: docs/ARCHITECTURE.md, "Start-up stays light").
    fingerprint: str
    probe_id: StrictInt | None = Field(default=None, exclude_if=_unknown)
    probe_run_id: StrictInt | None = Field(default=None, exclude_if=_unknown)
    attack: str | None = Field(default=None, exclude_if=_unknown)
    variation: str | None = Field(default=None, exclude_if=_unknown)
    strategy: str | None = Field(default=None, exclude_if=_unknown)
    red_teamer: str | None = Field(default=None, exclude_if=_unknown)
    #: The platform's id of the (first) test case behind it, verbatim.
    test_case_id: str | None = Field(default=None, exclude_if=_unknown)
    #: ``detectionTime`` as the API gave it.
    detected_at: str | None = Field(default=None, exclude_if=_unknown)
    #: Test cases of the run with this identity (the export may list an attack twice).
    occurrences: Count = Field(default=1, exclude_if=lambda occurrences: occurrences == 1)

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


#: A record as state keeps it: the values of ``ROW_FIELDS`` in order, trailing unknowns and a
#: single occurrence left out (``FindingRecord.row``).
Row = tuple[str | int | None, ...]


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
_ATTACK: Final = ROW_FIELDS.index("attack")
_FINGERPRINT_OF: Final = operator.itemgetter(0)
_ATTACK_OF: Final = operator.itemgetter(_ATTACK)
#: Where ``RecordedFindings.records`` keeps the models it built (not a field).
_RECORDS: Final = "_records_of_rows"


# A plain class rather than a dataclass (docs/ARCHITECTURE.md): never printed or compared.
class _Refused:
    """A finding of a document that is not one: why (the index is added by the model)."""

    __slots__ = ("why",)

    def __init__(self, why: str) -> None:
        self.why = why


def _odd_row(item: Any) -> Row | _Refused:
    """Any finding that is not a canonical row: a row with trailing unknowns, a count of 1 or a
    wrong value, a record written as an object, a ``FindingRecord`` (``records=`` in code).
    Made a canonical row, so that equal findings are equal rows whatever form they came in."""
    try:
        if isinstance(item, FindingRecord):
            return tuple(item.row())
        if isinstance(item, list | tuple):
            if not item or len(item) > len(ROW_FIELDS):
                return _Refused(
                    f"a findings row holds 1 to {len(ROW_FIELDS)} values "
                    f"({', '.join(ROW_FIELDS)}), not {len(item)}"
                )
            item = dict(zip(ROW_FIELDS, item, strict=False))
        return tuple(FindingRecord.model_validate(item).row())
    except ValidationError as exc:
        # One line: pydantic would print a nested error over several.
        return _Refused(describe_validation_error(exc))


def _rows_schema(_source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
    """What pydantic-core checks each row against: the canonical rows, as strict tuples of each
    length ``FindingRecord.row`` writes (the last value known, a count only when not 1), tried
    longest first (most rows have all nine values); anything else goes to ``_odd_row``.

    Written as pydantic-core's schema rather than as the ``Annotated`` tuple types it stands
    for: building those types and having pydantic translate them cost every command that
    reads a state (a plan too) about 15 M instructions, for the same schema.
    """

    def known(index: int) -> CoreSchema:
        if index == len(ROW_FIELDS) - 1:  # occurrences: written only when not 1
            return core_schema.int_schema(ge=2, strict=True)
        if ROW_FIELDS[index] in ("probe_id", "probe_run_id"):
            return core_schema.int_schema(strict=True)
        return core_schema.str_schema(strict=True)

    def canonical(length: int) -> CoreSchema:
        # The fingerprint and the last value known; any value between may be unknown.
        between = [core_schema.nullable_schema(known(i)) for i in range(1, length - 1)]
        items = [known(0), *between, known(length - 1)] if length > 1 else [known(0)]
        return core_schema.tuple_schema(items, strict=True)

    lengths = [len(ROW_FIELDS) - 1, len(ROW_FIELDS), *range(len(ROW_FIELDS) - 2, 0, -1)]
    odd = handler.generate_schema(Annotated[Any, PlainValidator(_odd_row)])
    row = core_schema.union_schema([*map(canonical, lengths), odd], mode="left_to_right")
    # Dumped by ``_dump_rows``, declared in pydantic-core's terms rather than with pydantic's
    # ``field_serializer`` or ``model_serializer`` (docs/ARCHITECTURE.md, "Start-up stays
    # light"): importing those alone costs every command about 9 M instructions.
    dump = core_schema.plain_serializer_function_ser_schema(
        _dump_rows, is_field_serializer=True, info_arg=True
    )
    return core_schema.tuple_schema([row], variadic_item_index=0, serialization=dump)


def _dump_rows(
    findings: "RecordedFindings", rows: tuple[Row, ...], info: SerializationInfo
) -> list[Any]:
    """``records`` in a document. In state, each record is a row of ``ROW_FIELDS``: as objects,
    the field names were half of a state of 1,000 runs with 10 findings each
    (docs/PERFORMANCE.md, "Findings"). Every other document (``state show --json``, plan JSON)
    names the fields."""
    if info.context and info.context.get(AS_ROWS):
        return [list(row) for row in rows]
    return [r.model_dump(mode=info.mode, by_alias=info.by_alias) for r in findings.records]


def _record_of(row: Row) -> FindingRecord:
    return FindingRecord.model_validate(dict(zip(ROW_FIELDS, row, strict=False)))


class RecordedFindings(CamelModel):
    """A run's findings as recorded with its result: at most ``MAX_RECORDED`` records, sorted by
    fingerprint (so two runs with the same findings keep the same ones), and the count of the
    rest.

    The findings are held as rows (``rows``, ``"records"`` in every document), checked when
    read; ``records`` builds the ``FindingRecord``s from them when something first asks. A
    ``status`` of 10,000 recorded runs only counts their fingerprints, and building 100,000
    models it never looks at was a third of its time (docs/PERFORMANCE.md, "Findings").
    """

    #: Dumped by ``_dump_rows``, as rows or as objects. Checked row by row in pydantic-core
    #: (``_rows_schema``), without a Python call for a row that is already canonical.
    rows: Annotated[tuple[Row, ...], GetPydanticSchema(_rows_schema)] = Field(
        default=(), alias="records"
    )
    #: Findings beyond ``MAX_RECORDED``, counted, not recorded.
    more: Count = 0
    #: When they were read (``utc_now`` format).
    read_at: str

    @field_validator("rows", mode="after")
    @classmethod
    def _refuse_bad_rows(cls, rows: tuple[Row | _Refused, ...]) -> tuple[Row, ...]:
        # One look at the types of all rows; a row that was refused is named by its index.
        if _Refused in set(map(type, rows)):
            for index, row in enumerate(rows):
                if isinstance(row, _Refused):
                    raise ValueError(f"finding {index}: {row.why}")
        return cast("tuple[Row, ...]", rows)

    @property
    def records(self) -> tuple[FindingRecord, ...]:
        """The recorded findings as models, built on first use and kept.

        Kept outside the fields (pydantic compares and dumps fields only) and with the rows
        they were built from, so a ``model_copy`` with other rows never sees stale ones.
        """
        kept: tuple[tuple[Row, ...], tuple[FindingRecord, ...]] | None = self.__dict__.get(_RECORDS)
        if kept is None or kept[0] is not self.rows:
            kept = (self.rows, tuple(_record_of(row) for row in self.rows))
            self.__dict__[_RECORDS] = kept
        return kept[1]

    @property
    def fingerprints(self) -> frozenset[str]:
        return frozenset(map(_FINGERPRINT_OF, self.rows))

    @property
    def total(self) -> int:
        return len(self.rows) + self.more

    @property
    def identified(self) -> bool:
        """Every recorded finding names its attack: new can be told from known."""
        # Asked of every run that ``status`` shows: the loop stays in C (``map``, ``in``).
        rows = self.rows
        return not rows or (min(map(len, rows)) > _ATTACK and None not in map(_ATTACK_OF, rows))


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
        rows=tuple(tuple(record.row()) for record in ordered[:MAX_RECORDED]),
        more=max(0, len(ordered) - MAX_RECORDED),
        read_at=read_at,
    )


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
