"""The HTML view of a ``ResultSet``: ``reconciler report``'s one self-contained page.

A pure function of the result set and what the page needs besides (``PageContext``: where the
data came from, the PDFs downloaded, notes), rendered by the Jinja2 template
``reconciler/templates/report.html.j2`` with autoescaping on: keys, names and probe names are
user input. Its CSS and JS are inlined from the files beside the template, and a
Content-Security-Policy allowing only those (by hash) makes the page unable to fetch anything
from anywhere: it can be mailed or attached to a CI run and opened offline.

Every value shown is stripped of control characters (``shown``), which a browser would draw
as boxes. Everything the page says is in its HTML (numbers, verdicts, reasons, hover texts as SVG
``<title>``), so it reads with JavaScript off; the script only sorts and filters the table.

Below the table, each run with findings has a collapsed drill-down (``drill.py``): its findings
by probe, new then known then fixed within each, and its key's trend over the recorded history.
The markup is compact (no redundant attributes, optional end tags left out): 1,000 runs with
10,000 findings must stay under 3 MB (docs/PERFORMANCE.md). Test
case content only with ``include_content``: autoescaped ``<pre>`` text, cut at
``content_limit`` characters a message.

The heat map aggregates: one cell per (target, probe) pair, so 1,000 runs over 50 targets and
40 probes draw at most 2,000 cells, never a row per run. A cell shows the worst of what every
key covering the pair found in its latest result (when ended): two keys may test the same
target with the same probe, and one key's clean run must not hide the other's failures.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from typing import TYPE_CHECKING, Final

from reconciler import __version__
from reconciler.results.gate import Outcome
from reconciler.results.model import Counts, RunResult
from reconciler.results.views.drill import TREND_HEIGHT, TREND_WIDTH, drills
from reconciler.results.views.listing import DEFAULT_CONTENT_LIMIT, cut

if TYPE_CHECKING:
    import jinja2

    from reconciler.results.summary import ResultRow, ResultSet

#: ColorBrewer's YlOrRd, 9 classes: sequential, light to dark, and listed by ColorBrewer as
#: safe for colour-blind readers (its lightness alone orders it). Light means few failures.
RAMP: Final = (
    "#ffffcc",
    "#ffeda0",
    "#fed976",
    "#feb24c",
    "#fd8d3c",
    "#fc4e2a",
    "#e31a1c",
    "#bd0026",
    "#800026",
)
#: Failure rates where the legend puts a tick (the ramp is on a square-root scale, so that a
#: 2% rate, the kind a gate cares about, is already visibly not 0%).
LEGEND_RATES: Final = (0.0, 0.01, 0.05, 0.25, 0.5, 1.0)

CELL: Final = 34  # side of a heat map cell, in SVG units
LABEL_WIDTH: Final = 120  # room for the target labels on the left
#: Room for the slanted probe labels on top, per character of the longest (11px text at 50°).
LABEL_RISE: Final = 5.2
DISPLAY_WIDTH: Final = 900  # a small map is zoomed towards this width
PROBE_LABEL_CHARS: Final = 24  # longer probe names are cut in the label (whole in the title)
MORE_RATES: Final = 5  # a cell's hover text gives the rates of this many more keys, then "…"
_OUTCOME_RANK: Final = {Outcome.FAILED: 0, Outcome.PENDING: 1, Outcome.PASSED: 2}


@dataclass(frozen=True)
class Pdf:
    """What ``--pdf`` did for one run: a link relative to the page, or why there is none."""

    href: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class PageContext:
    """What the page shows besides the results."""

    #: True when statuses were read from the API now; False for ``--refresh=false``.
    refreshed: bool = True
    #: Page-level notes (results not recorded, keys with unknown outcomes, PDFs not fetched).
    notes: tuple[str, ...] = ()
    #: By key, when ``--pdf`` was given.
    pdfs: Mapping[str, Pdf] = field(default_factory=dict)


@dataclass(frozen=True)
class Cell:
    """One heat map cell: the worst of the keys' latest ended results with this (target,
    probe) pair; its colour, text, link and title are the worst one's, the title counts the
    others."""

    x: int
    y: int
    fill: str
    ink: str
    text: str
    title: str
    url: str
    #: The keys whose latest result covers the pair, the worst first.
    keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class Axis:
    """A row or column label of the heat map."""

    label: str
    title: str
    offset: int


@dataclass(frozen=True)
class HeatMap:
    targets: tuple[Axis, ...]
    probes: tuple[Axis, ...]
    cells: tuple[Cell, ...]
    #: (x, y) of pairs with no ended run, drawn as empty cells.
    empty: tuple[tuple[int, int], ...]
    width: int
    height: int
    #: Height of the band of probe labels above the cells.
    header: int = 0

    @property
    def is_empty(self) -> bool:
        return not self.cells

    @property
    def zoom(self) -> float:
        """A small map is drawn larger than its units (CSS shrinks any map to fit a screen)."""
        return min(1.6, max(1.0, DISPLAY_WIDTH / self.width))


@dataclass(frozen=True)
class _Covered:
    """One key's part of a (target, probe) pair: a probe run of the key's latest result."""

    #: When the run executed (then when it was read, then its id): the newest names a probe.
    order: tuple[str, str, int]
    row: ResultRow
    probe_name: str
    counts: Counts
    #: The key's latest ended result: its run's, or the one before while its run is going.
    result: RunResult

    @property
    def url(self) -> str:
        """The link to the run of ``result`` (the row's links to the row's run)."""
        row, run_id = self.row, self.result.test_run_id
        if run_id == row.test_run_id:
            return row.url
        return f"{row.url.removesuffix(f'/{row.test_run_id}')}/{run_id}"

    @property
    def severity(self) -> tuple[float, int, bool, tuple[str, str, int]]:
        """Worse is a higher failure rate, then more failed test cases, then having test
        cases at all (0% says more than "–"), then newer: a total order, so the cell is the
        same whatever the order of the rows."""
        counts = self.counts
        return (counts.failed_rate, counts.failed, counts.total > 0, self.order)


def heat_map(results: ResultSet) -> HeatMap:
    """Targets by probes; each cell the worst of the latest ended result of every key that
    covers that pair: while a key's next run is going, the ended run before it (``previous``)
    still counts, and the run going is in the table only."""
    covered: dict[tuple[int, str], list[_Covered]] = {}
    for row in results.rows:
        # While a key's next run is going (or unknown), its ended run before still counts.
        result = row.result if row.ended else row.previous
        if result is None:
            continue
        order = (result.execution_date or "", result.seen_at, result.test_run_id)
        for probe_run in result.probe_runs:
            column = (
                f"id:{probe_run.probe_id}"
                if probe_run.probe_id is not None
                else f"name:{probe_run.probe_name}"
            )
            covered.setdefault((row.target_id, column), []).append(
                _Covered(order, row, probe_run.probe_name, probe_run.counts, result)
            )
    target_ids = sorted({target for target, _ in covered})
    names: dict[str, str] = {}
    everything = ((column, seen) for (_, column), parts in covered.items() for seen in parts)
    for column, seen in sorted(everything, key=lambda item: item[1].order):
        names[column] = seen.probe_name  # the newest name of a probe wins
    columns = sorted(names, key=lambda c: (names[c].casefold(), c))
    longest = max((len(_cut(name)) for name in names.values()), default=0)
    header = 16 + math.ceil(longest * LABEL_RISE)
    x_of = {c: LABEL_WIDTH + i * CELL for i, c in enumerate(columns)}
    y_of = {t: header + i * CELL for i, t in enumerate(target_ids)}
    cells = []
    for (target, column), parts in sorted(covered.items()):
        parts.sort(key=lambda part: part.severity, reverse=True)
        worst = parts[0]
        rate = worst.counts.failed_rate
        fill = colour(rate)
        cells.append(
            Cell(
                x=x_of[column],
                y=y_of[target],
                fill=fill,
                ink=ink_for(fill),
                text=percent(rate) if worst.counts.total else "–",
                title=_cell_title(target, names[column], parts),
                url=worst.url,
                keys=tuple(part.row.key for part in parts),
            )
        )
    empty = tuple((x_of[c], y_of[t]) for t in target_ids for c in columns if (t, c) not in covered)
    return HeatMap(
        targets=tuple(Axis(f"target {t}", f"target {t}", y_of[t]) for t in target_ids),
        probes=tuple(Axis(_cut(names[c]), names[c], x_of[c]) for c in columns),
        cells=tuple(cells),
        empty=empty,
        width=LABEL_WIDTH + len(columns) * CELL + math.ceil(longest * LABEL_RISE * 0.85),
        height=header + len(target_ids) * CELL + 4,
        header=header,
    )


def _cell_title(target: int, probe: str, parts: list[_Covered]) -> str:
    """The hover text: the cell's figure, the worst key's line, then how many more keys cover
    the pair and their rates (each key's own line is its row in the table).

    Short on purpose: a dense report (1,000 runs over 2,000 pairs, four keys a pair) carries
    2,000 of them, and the page must stay small enough to mail (docs/PERFORMANCE.md).
    """
    worst = parts[0].counts
    lines = [f"target {target} × {probe}: {percent(worst.failed_rate)} failed", _key_line(parts[0])]
    others = parts[1:]
    if others:
        rates = [percent(p.counts.failed_rate) if p.counts.total else "–" for p in others]
        shown = ", ".join(rates[:MORE_RATES]) + (", …" if len(rates) > MORE_RATES else "")
        lines.append(f"+{len(others)} more key{'s' if len(others) > 1 else ''}: {shown}")
    return "\n".join(lines)


def _key_line(part: _Covered) -> str:
    """``nightly: 3 of 20 failed, 1 errored, run 1001, Error``: what is not the rule (errored
    test cases, an end other than Finished) only when it is there; a key whose next run is
    going names it."""
    counts, row, result = part.counts, part.row, part.result
    found = f"{counts.failed} of {counts.total} failed" if counts.total else "no test cases"
    errored = f", {counts.errored} errored" if counts.errored else ""
    ended = "" if result.status.casefold() == "finished" else f", {result.status}"
    going = "" if result is row.result else f" (now run {row.test_run_id}, {row.status})"
    return f"{row.key}: {found}{errored}, run {result.test_run_id}{ended}{going}"


def colour(rate: float) -> str:
    """The ramp's colour for a failure rate in [0, 1], on a square-root scale."""
    position = math.sqrt(min(max(rate, 0.0), 1.0)) * (len(RAMP) - 1)
    low = min(int(position), len(RAMP) - 2)
    return _mix(RAMP[low], RAMP[low + 1], position - low)


def ink_for(fill: str) -> str:
    """Black or white text, whichever reads better on ``fill`` (WCAG relative luminance)."""
    red, green, blue = (_linear(int(fill[i : i + 2], 16) / 255) for i in (1, 3, 5))
    luminance = 0.2126 * red + 0.7152 * green + 0.0722 * blue
    # Contrast with black is (L + 0.05) / 0.05, with white 1.05 / (L + 0.05): equal at ~0.179.
    return "#000000" if luminance > 0.179 else "#ffffff"


def percent(rate: float) -> str:
    """``0%``, ``<1%``, ``12%``, ``100%``: short enough for a cell, never 0% when not 0."""
    if rate == 0:
        return "0%"
    if rate < 0.01:
        return "<1%"
    if rate < 1 and round(rate * 100) == 100:
        return ">99%"
    return f"{round(rate * 100)}%"


def _mix(low: str, high: str, share: float) -> str:
    channels = (
        round(int(low[i : i + 2], 16) * (1 - share) + int(high[i : i + 2], 16) * share)
        for i in (1, 3, 5)
    )
    return "#" + "".join(f"{c:02x}" for c in channels)


def _linear(channel: float) -> float:
    return channel / 12.92 if channel <= 0.04045 else ((channel + 0.055) / 1.055) ** 2.4


def _cut(name: str) -> str:
    return name if len(name) <= PROBE_LABEL_CHARS else name[: PROBE_LABEL_CHARS - 1] + "…"


@dataclass(frozen=True)
class Line:
    """One row of the table, with what the template needs already worked out."""

    row: ResultRow
    order: int
    rank: int
    outcome: str
    status: str
    status_note: str | None
    counts: Counts | None
    previous: str | None
    pdf: Pdf | None


def table_lines(results: ResultSet, pdfs: Mapping[str, Pdf]) -> list[Line]:
    """The table's rows in the page's default order: failing first (``failing_first``)."""
    lines = []
    for order, row in enumerate(results.failing_first()):
        previous = row.previous
        lines.append(
            Line(
                row=row,
                order=order,
                rank=_OUTCOME_RANK[row.verdict.outcome],
                outcome=row.verdict.outcome.value,
                status="Not read" if row.result is None and row.error else row.status,
                status_note=row.error,
                counts=row.counts if row.result is not None else None,
                previous=(
                    f"{previous.counts.failed} failed of {previous.counts.total}, "
                    f"{previous.status}, run {previous.test_run_id}"
                    if previous is not None
                    else None
                ),
                pdf=pdfs.get(row.key),
            )
        )
    return lines


@dataclass(frozen=True)
class Legend:
    stops: tuple[tuple[str, str], ...]  # (offset %, colour) of the gradient
    ticks: tuple[tuple[float, str], ...]  # (position 0..1, label)


def legend() -> Legend:
    steps = 16
    stops = tuple((f"{100 * i / steps:.1f}%", colour((i / steps) ** 2)) for i in range(steps + 1))
    ticks = tuple((math.sqrt(rate), percent(rate)) for rate in LEGEND_RATES)
    return Legend(stops, ticks)


def render_report(
    results: ResultSet,
    context: PageContext | None = None,
    *,
    include_content: bool = False,
    content_limit: int = DEFAULT_CONTENT_LIMIT,
) -> str:
    """The whole page, as text (UTF-8 when written); test case content (messages of findings
    read now) only with ``include_content``, each message cut at ``content_limit``."""
    context = context or PageContext()
    assets = _assets()
    lines = table_lines(results, context.pdfs)
    # Summed as plain ints: adding Counts validates a model per step, 1,000 times over.
    totals = Counts(
        **{
            name: sum(getattr(line.counts, name) for line in lines if line.counts is not None)
            for name in ("total", "passed", "failed", "errored")
        }
    )
    drilled = drills([line.row for line in lines])
    template = _environment().get_template("report.html.j2")
    return template.render(
        results=results,
        context=context,
        lines=lines,
        totals=totals,
        failed=len(results.failed),
        passed=len(results.passed),
        pending=len(results.pending),
        read_at=_readable_time(results.read_at),
        read_at_iso=results.read_at,
        heat=heat_map(results),
        drills=drilled,
        drilled={drill.row.test_run_id for drill in drilled},
        content_limit=content_limit if include_content else None,
        cut=cut,
        trend_width=TREND_WIDTH,
        trend_height=TREND_HEIGHT,
        legend=legend(),
        cell=CELL,
        label_width=LABEL_WIDTH,
        css=assets.css,
        js=assets.js,
        csp=assets.csp,
        version=__version__,
    )


@dataclass(frozen=True)
class _Assets:
    css: str
    js: str
    csp: str


@functools.cache
def _assets() -> _Assets:
    folder = resources.files("reconciler") / "templates"
    css = (folder / "report.css").read_text(encoding="utf-8")
    js = (folder / "report.js").read_text(encoding="utf-8")
    # Only this style and this script may run, and nothing may be fetched: no fonts, images,
    # frames or connections, whatever a value in the page might try.
    csp = (
        "default-src 'none'; "
        f"style-src {_hash(css)}; script-src {_hash(js)}; img-src data:; "
        "base-uri 'none'; form-action 'none'"
    )
    return _Assets(css, js, csp)


def _hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


#: C0 and C1 controls but tab and line breaks, and the bidirectional formatting characters: a
#: browser draws a control as a box (or, for the latter, reorders the text around it). Dropped
#: from every value the page shows; names and attacks come from the API and spec files.
_UNSHOWN: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def shown(value: object) -> object:
    """A value as the page shows it: text without control characters (``_UNSHOWN``); anything
    else, and markup the template marked safe (the page's own CSS and JS), as it is."""
    if type(value) is str:  # not Markup, a subclass: the page's own code is left alone
        return _UNSHOWN.sub("", value)
    return value


@functools.cache
def _environment() -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("reconciler", "templates"),
        # Keys, names and probe names are user input: everything is escaped unless marked.
        autoescape=True,
        # Applied to every {{ value }} before it is escaped.
        finalize=shown,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _readable_time(stamp: str) -> str:
    """``2026-12-02T14:00:00Z`` → ``2026-12-02 14:00:00 UTC``; anything else as given."""
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
