"""The desired set: what the spec files ask for, after loading and normalisation."""

from __future__ import annotations

from dataclasses import dataclass, field

from reconciler.records import RunAttributes


@dataclass(frozen=True)
class DesiredRun:
    """One run declared in the specs."""

    key: str
    attributes: RunAttributes
    #: Spec file (as given on the command line, relative where possible) and 1-based line.
    file: str
    line: int
    #: ``protect: true``: never cancelled or replaced until the mark is removed.
    protect: bool = False

    @property
    def source(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class DesiredSet:
    """Every run of every spec file, keyed by run key."""

    runs: dict[str, DesiredRun]
    #: sha256 over the (path, content) of every spec file read, in sorted order.
    checksum: str
    #: The spec files read, in the order they were read.
    files: tuple[str, ...] = field(default=())
