"""The end of ``wait`` / ``apply --wait`` as text: the verdict, then every run that did not
pass (why, and its link), then the passed ones, briefly.

::

    1 of 3 runs failed its gate (waited 4m10s).

    leaky: Finished, run 101, 6 passed, 4 failed, 0 errored of 10, gate failed
      - 4 failed test cases, at most 0 allowed
      https://probe.splx.ai/w/1234/target/42/test-runs/101

    passed: clean (run 100) https://probe.splx.ai/w/1234/target/42/test-runs/100
    passed: other (run 102) https://probe.splx.ai/w/1234/target/43/test-runs/102

Pure, like every view: the caller prints it.
"""

from __future__ import annotations

from typing import Final

from reconciler.durations import format_seconds
from reconciler.results.summary import ResultSet
from reconciler.results.views.markdown import verdict_line
from reconciler.results.views.text import _painter, _row_lines

#: Passed runs are named one by one up to this many; beyond, counted.
PASSED_LISTED: Final = 50


def render_verdict(
    results: ResultSet, *, waited: float, timed_out: bool = False, color: bool = False
) -> str:
    paint = _painter(color)
    headline = verdict_line(results, waiting=True)
    after = (
        f"timed out after {format_seconds(waited)}"
        if timed_out
        else f"waited {format_seconds(waited)}"
    )
    colour = (
        "red" if results.failed or results.unreadable else "yellow" if results.pending else "green"
    )
    lines = [paint(f"{headline.removesuffix('.')} ({after}).", colour)]
    for row in results.failing_first():
        if row.verdict.passed:
            continue
        lines += ["", *_row_lines(row, paint)]
    passed = [row for row in results.rows if row.verdict.passed]
    if passed:
        lines.append("")
        if len(passed) <= PASSED_LISTED:
            lines += [f"passed: {row.key} (run {row.test_run_id}) {row.url}" for row in passed]
        else:
            lines.append(f"passed: {len(passed)} runs (`reconciler status` lists them)")
    return "\n".join(lines) + "\n"
