"""The desired set: what the spec files ask for, after loading and normalisation.

The records are NamedTuples: immutable like frozen dataclasses, but on Python 3.11 a frozen
dataclass compiles six methods when defined (about 4.5 M instructions each, on every command)
and sets every field through ``object.__setattr__`` (one ``DesiredRun`` per run). Change one
with ``record._replace(...)``.
"""

from __future__ import annotations

from typing import NamedTuple

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


class DesiredSet(NamedTuple):
    """Every run of every spec file, keyed by run key."""

    runs: dict[str, DesiredRun]
    #: sha256 of the resolved runs (key, attributes, protect, name_defaulted) and moves, in a
    #: canonical order (``spec.loader.desired_checksum``): comments and layout do not change it.
    checksum: str
    #: The spec files read, in the order they were read.
    files: tuple[str, ...] = ()
    #: ``moved:`` entries of every file, in the order read; checked against the specs.
    moves: tuple[Move, ...] = ()
