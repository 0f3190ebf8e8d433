"""The report's drill-down of each run: its findings grouped by probe, new then known then
fixed within each, and its key's trend over the recorded history, as data for the template.

One heading per probe, carrying its name and the link to this run's probe run; each finding's
state (new, known, fixed) is a short cell of its row. A heading (and so a link) per state and
probe run, or a link per finding, would cost thousands of URLs on a page of 1,000 runs, which
must stay under 3 MB (docs/PERFORMANCE.md). Fixed findings were seen in the previous run: the
drill-down links that run once. The trend is an inline SVG of two polylines (failed test cases,
new findings) with the same numbers in a table beside it: no colour and no script needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from reconciler.results.baseline import compare
from reconciler.results.gate import previous_result
from reconciler.results.model import RunResult
from reconciler.results.summary import ResultRow
from reconciler.results.views.listing import FIXED, Listed, listed, previous_run_url, run_line

TREND_WIDTH: Final = 180
TREND_HEIGHT: Final = 48
_PAD: Final = 6


@dataclass(frozen=True)
class Group:
    """One probe's findings in a run: new, then known, then fixed."""

    probe: str
    #: This run's probe run of the probe (the previous run's when it has only fixed findings).
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
    #: (run id, link) of the previous run, where the fixed findings were seen; None if none.
    fixed_in: tuple[int, str] | None = None

    @property
    def anchor(self) -> str:
        return f"f{self.row.test_run_id}"


def drills(rows: list[ResultRow]) -> list[Drill]:
    """A drill-down for every row with findings, something to say about them, or a trend."""
    out = []
    for row in rows:
        items = listed(row)
        groups = _groups(items)
        notes = _notes(row)
        trend = trend_of(row)
        if groups or notes or trend is not None:
            out.append(Drill(row, run_line(row), groups, notes, trend, _fixed_in(row, items)))
    return out


def _groups(items: list[Listed]) -> tuple[Group, ...]:
    """By probe, in the order the probes first appear (those with new findings first); within
    a probe the items keep their order, new then known then fixed."""
    buckets: dict[tuple[int | None, str], list[Listed]] = {}
    for item in items:
        probe_id = item.record.probe_id
        buckets.setdefault((probe_id, "" if probe_id is not None else item.probe), []).append(item)
    return tuple(_group(bucket) for bucket in buckets.values())


def _group(bucket: list[Listed]) -> Group:
    # The newest name and this run's link, from a finding of this run when there is one.
    first = next((item for item in bucket if item.state != FIXED), bucket[0])
    return Group(first.probe, first.url, tuple(bucket))


def _fixed_in(row: ResultRow, items: list[Listed]) -> tuple[int, str] | None:
    url = previous_run_url(row)
    if url is None or row.previous is None or not any(i.state == FIXED for i in items):
        return None
    return row.previous.test_run_id, url


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
