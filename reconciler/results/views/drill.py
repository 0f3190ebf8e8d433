"""The report's drill-down of each run: its findings grouped new, known, fixed and by probe run,
and its key's trend over the recorded history, as data for the template.

Findings are grouped under one heading per (state, probe run), which carries the probe's name
and the probe run's link: a link per finding would cost 10,000 URLs on a page of 1,000 runs,
the size the page must keep under 3 MB (docs/PERFORMANCE.md). The trend is an inline SVG of two
polylines (failed test cases, new findings) with the same numbers in a table beside it: no
colour and no script needed to read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from reconciler.results.baseline import compare
from reconciler.results.gate import previous_result
from reconciler.results.model import RunResult
from reconciler.results.summary import ResultRow
from reconciler.results.views.listing import Listed, listed, run_line

TREND_WIDTH: Final = 180
TREND_HEIGHT: Final = 48
_PAD: Final = 6


@dataclass(frozen=True)
class Group:
    """Findings of one state (new, known, fixed) seen in one probe run."""

    state: str
    probe: str
    url: str
    items: tuple[Listed, ...]


@dataclass(frozen=True)
class Point:
    """One run of a key's history: its failed test cases and new findings (None: not known)."""

    test_run_id: int
    when: str
    failed: int
    new: int | None
    x: float
    y_failed: float
    y_new: float | None


@dataclass(frozen=True)
class Trend:
    points: tuple[Point, ...]
    #: The highest value drawn (the top of the chart).
    top: int

    @property
    def failed_line(self) -> str:
        return " ".join(f"{p.x:g},{p.y_failed:g}" for p in self.points)

    @property
    def new_line(self) -> str:
        return " ".join(f"{p.x:g},{p.y_new:g}" for p in self.points if p.y_new is not None)


@dataclass(frozen=True)
class Drill:
    """One run's drill-down."""

    row: ResultRow
    #: ``4 failed (3 new, 1 known; 2 fixed)``.
    line: str
    groups: tuple[Group, ...]
    notes: tuple[str, ...]
    trend: Trend | None

    @property
    def anchor(self) -> str:
        return f"f{self.row.test_run_id}"


def drills(rows: list[ResultRow]) -> list[Drill]:
    """A drill-down for every row with findings, something to say about them, or a trend."""
    out = []
    for row in rows:
        groups = _groups(listed(row))
        notes = _notes(row)
        trend = trend_of(row)
        if groups or notes or trend is not None:
            out.append(Drill(row, run_line(row), groups, notes, trend))
    return out


def _groups(items: list[Listed]) -> tuple[Group, ...]:
    groups: list[Group] = []
    bucket: list[Listed] = []
    for item in items:
        if bucket and (bucket[0].state, bucket[0].url) != (item.state, item.url):
            groups.append(_group(bucket))
            bucket = []
        bucket.append(item)
    if bucket:
        groups.append(_group(bucket))
    return tuple(groups)


def _group(bucket: list[Listed]) -> Group:
    first = bucket[0]
    return Group(first.state, first.probe, first.url, tuple(bucket))


def _notes(row: ResultRow) -> tuple[str, ...]:
    findings = row.findings
    if findings is None:
        return ()
    notes = []
    if findings.error is not None:
        notes.append(f"Some findings could not be read: {findings.error}")
    diff = findings.diff
    if diff is not None and not diff.determined:
        notes.append(
            f"New and known could not be told apart ({diff.undetermined_because}): "
            "all count as new."
        )
    if diff is not None and diff.more:
        notes.append(f"{diff.more} more findings were counted, not recorded (not listed).")
    return tuple(notes)


#: Fewer runs are no trend: one previous run is already the runs table's "Previous" column.
MIN_TREND: Final = 3


def trend_of(row: ResultRow) -> Trend | None:
    """The key's recorded results and its latest ended one, oldest first; None with fewer
    than ``MIN_TREND``."""
    runs = list(row.history)
    if row.result is not None and row.result.ended:
        runs.append(row.result)
    if len(runs) < MIN_TREND:
        return None
    values = [(run, run.counts.failed, _new(run, tuple(runs[:i]))) for i, run in enumerate(runs)]
    diff = row.findings.diff if row.findings is not None else None
    if runs[-1] is row.result and diff is not None:
        # What was read now counts for the latest run, recorded or not.
        values[-1] = (runs[-1], runs[-1].counts.failed, diff.new_count)
    top = max(max(failed, new or 0) for _, failed, new in values) or 1
    step = (TREND_WIDTH - 2 * _PAD) / (len(runs) - 1)

    def y(value: int) -> float:
        return round(TREND_HEIGHT - _PAD - value * (TREND_HEIGHT - 2 * _PAD) / top, 1)

    points = tuple(
        Point(
            test_run_id=run.test_run_id,
            when=(run.execution_date or run.seen_at)[:10],
            failed=failed,
            new=new,
            x=round(_PAD + i * step, 1),
            y_failed=y(failed),
            y_new=y(new) if new is not None else None,
        )
        for i, (run, failed, new) in enumerate(values)
    )
    return Trend(points, top)


def _new(run: RunResult, earlier: tuple[RunResult, ...]) -> int | None:
    diff = compare(run, previous_result(earlier))
    return diff.new_count if diff is not None else None
