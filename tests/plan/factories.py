"""Builders of desired sets and states for plan tests: short to call, explicit defaults."""

from __future__ import annotations

from reconciler.records import RunAttributes
from reconciler.spec.model import DesiredRun, DesiredSet
from reconciler.state.model import State, TrackedRun
from tests.factories import attrs, tracked

LINEAGE = "6f1c2b7e-0000-4000-8000-000000000001"
CHECKSUM = "sha256:0000000000000000000000000000000000000000000000000000000000000001"


def drun(
    key: str,
    attributes: RunAttributes | None = None,
    *,
    file: str = "specs/runs.yaml",
    line: int = 1,
    protect: bool = False,
    name_defaulted: bool = False,
    rerun_after: int | None = None,
) -> DesiredRun:
    return DesiredRun(
        key=key,
        attributes=attributes if attributes is not None else attrs(name=key),
        file=file,
        line=line,
        protect=protect,
        name_defaulted=name_defaulted,
        rerun_after=rerun_after,
    )


def desired(*runs: DesiredRun, checksum: str = CHECKSUM) -> DesiredSet:
    return DesiredSet(
        runs={run.key: run for run in runs},
        checksum=checksum,
        files=tuple(sorted({run.file for run in runs})),
    )


def state(runs: dict[str, TrackedRun] | None = None, *, serial: int = 7) -> State:
    return State(lineage=LINEAGE, serial=serial, runs=runs or {})


def in_sync(*keys: str) -> tuple[DesiredSet, State]:
    """Desired and state holding the same runs for ``keys`` (ids 1, 2, ... in order)."""
    runs = [drun(key, line=i + 1) for i, key in enumerate(keys)]
    tracked_runs = {run.key: tracked(run.attributes, i + 1) for i, run in enumerate(runs)}
    return desired(*runs), state(tracked_runs)
