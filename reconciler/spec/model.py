"""The desired set: what the spec files ask for, after loading and normalisation.

The records are NamedTuples: immutable like frozen dataclasses, but on Python 3.11 a frozen
dataclass compiles six methods when defined (about 4.5 M instructions each, on every command)
and sets every field through ``object.__setattr__`` (one ``DesiredRun`` per run). Change one
with ``record._replace(...)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from reconciler.defaults import DEFAULT_MAX_MATRIX_RUNS
from reconciler.records import RunAttributes
from reconciler.results.gate import Gate

#: The gate of a run that sets none (a frozen model: one instance serves every run).
_NO_GATE = Gate()


class DesiredRun(NamedTuple):
    """One run declared in the specs."""

    key: str
    attributes: RunAttributes
    #: Spec file (as given on the command line, relative where possible) and 1-based line.
    file: str
    line: int
    #: ``protect: true``: never cancelled or replaced until the mark is removed.
    protect: bool = False
    #: No ``name:`` of its own (nor matrix name template): the name is the key. A tracked run
    #: keeps the name it was triggered with instead (``plan.diff``), so a move never renames it.
    name_defaulted: bool = False
    #: ``rerunAfter`` in seconds (run > defaults > reconciler.yaml): once the run has ended and
    #: was triggered longer ago, plan replaces it. Beside the attributes, like ``protect``:
    #: editing it alone never re-triggers anything. None: never due.
    rerun_after: int | None = None
    #: The run's gate, merged from run, file defaults and the project config. Not sent to the
    #: API and not part of the checksum: a gate edit changes no plan.
    gate: Gate = _NO_GATE

    @property
    def source(self) -> str:
        return f"{self.file}:{self.line}"


class Move(NamedTuple):
    """A ``moved:`` entry: the run tracked under ``source`` is now tracked under ``target``."""

    source: str
    target: str
    file: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


class ProbeSet(NamedTuple):
    """A named list of probe ids (project config or spec file), usable in ``probeIds``."""

    name: str
    #: None: the probes configured for the target on the platform (``name: null``).
    ids: tuple[int, ...] | None
    #: "file:line" where it is defined, for messages.
    source: str


class MatrixLimit(NamedTuple):
    """How many runs one matrix may expand to, and where that number was set (for messages)."""

    runs: int = DEFAULT_MAX_MATRIX_RUNS
    #: "file:line" of ``maxMatrixRuns`` in the project config; None: the built-in default.
    source: str | None = None


class DesiredSet:
    """Every run of every spec file, keyed by run key.

    Not a NamedTuple like the records above: its checksum is computed when first asked
    (``checksum``), since only saved and JSON plans and ``apply --plan`` need it.
    """

    __slots__ = ("_checksum", "files", "moves", "runs")

    runs: dict[str, DesiredRun]
    #: The spec files read, in the order they were read.
    files: tuple[str, ...]
    #: ``moved:`` entries of every file, in the order read; checked against the specs.
    moves: tuple[Move, ...]
    _checksum: str | None

    def __init__(
        self,
        runs: dict[str, DesiredRun],
        checksum: str | None = None,
        files: tuple[str, ...] = (),
        moves: tuple[Move, ...] = (),
    ) -> None:
        # Immutable like the records: attributes are set here only (and the checksum once).
        object.__setattr__(self, "runs", runs)
        object.__setattr__(self, "files", files)
        object.__setattr__(self, "moves", moves)
        object.__setattr__(self, "_checksum", checksum)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"a DesiredSet is immutable: cannot set {name!r}")

    @property
    def checksum(self) -> str:
        """sha256 of the resolved runs (key, attributes, protect, name_defaulted) and moves, in
        a canonical order (``desired_checksum``): comments and layout do not change it."""
        checksum: str | None = self._checksum
        if checksum is None:
            checksum = desired_checksum(self.runs.values(), self.moves)
            object.__setattr__(self, "_checksum", checksum)
        return checksum

    def _replace(self, **changes: Any) -> DesiredSet:
        """A copy with ``changes``, as the records' ``_replace``: the checksum too is kept
        unless ``checksum`` is among them (None: computed again when asked)."""
        fields = {
            "runs": self.runs,
            "files": self.files,
            "moves": self.moves,
            "checksum": self._checksum,
        }
        return DesiredSet(**{**fields, **changes})

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DesiredSet):
            return NotImplemented
        mine = (self.runs, self.files, self.moves, self.checksum)
        return mine == (other.runs, other.files, other.moves, other.checksum)

    __hash__ = None  # type: ignore[assignment]  # equal sets compare by value, like a dict

    def __repr__(self) -> str:
        return (
            f"DesiredSet(runs={self.runs!r}, checksum={self._checksum!r}, files={self.files!r}, "
            f"moves={self.moves!r})"
        )


def desired_checksum(runs: Iterable[DesiredRun], moves: Iterable[Move]) -> str:
    """sha256 of the resolved desired set: each run's key, attributes, ``protect``,
    ``name_defaulted`` (it decides the name of a tracked run) and ``rerunAfter`` (it decides
    what is due), and the moves, in a canonical order.

    What the specs ask for, not how they are written: a comment, a reordered file or a run
    moved to another file leaves a saved plan fresh; a changed value (written, from a
    ``${VAR}``, a probe set or the project config) makes it stale. About 17 M instructions for
    1,000 runs: ``DesiredSet.checksum`` computes it when first asked.
    """
    # Imported here: a plan for the terminal never needs them.
    import hashlib
    import json

    rows = sorted(
        # vars() of a RunAttributes is its fields in declaration order: much cheaper than a
        # model_dump, and JSON keeps 2 and "2" (two different revisions) apart.
        [
            run.key,
            *vars(run.attributes).values(),
            run.protect,
            run.name_defaulted,
            # Only when set, so the checksum of specs without rerunAfter is what it was.
            *([run.rerun_after] if run.rerun_after is not None else []),
        ]
        for run in runs
    )
    document = {"runs": rows, "moved": sorted([m.source, m.target] for m in moves)}
    # Freshly built lists cannot refer to themselves: skip the encoder's cycle bookkeeping.
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"), check_circular=False)
    return hashlib.sha256(text.encode()).hexdigest()
