"""Time make_plan (and the renderers) on 10,000 runs with 1% changed.

python bench/bench_plan.py [COUNT]
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable

from reconciler.plan.diff import make_plan
from reconciler.plan.render import render_json, render_markdown, render_text
from reconciler.records import RunAttributes
from reconciler.spec.model import DesiredRun, DesiredSet
from reconciler.state.model import State, TrackedRun


def record(i: int, target: int) -> RunAttributes:
    return RunAttributes(
        workspace_id=1234, target_id=target, probe_ids=(101, 102, i % 50 + 200), name=f"run {i}"
    )


def inputs(count: int) -> tuple[DesiredSet, State]:
    runs = {
        f"run-{i:05d}": DesiredRun(f"run-{i:05d}", record(i, 42), "specs/runs.yaml", i + 1)
        for i in range(count)
    }
    tracked = {
        key: TrackedRun(
            test_run_id=i,
            attributes=record(i, 43 if i % 100 == 0 else 42),
            triggered_at="2024-05-01T12:00:00Z",
        )
        for i, key in enumerate(runs)
    }
    return DesiredSet(runs=runs, checksum="x"), State(lineage="l", serial=1, runs=tracked)


def best_of(repeats: int, action: Callable[[], object]) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times) * 1000, statistics.median(times) * 1000


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    want, have = inputs(count)
    plan = make_plan(want, have)
    print(f"{count} runs, {len(plan.actionable)} to replace")
    for name, action in [
        ("make_plan", lambda: make_plan(want, have)),
        ("render_text", lambda: render_text(plan, color=False)),
        ("render_json", lambda: render_json(plan)),
        ("render_markdown", lambda: render_markdown(plan)),
    ]:
        low, median = best_of(7, action)
        print(f"{name:<16} best {low:7.1f} ms   median {median:7.1f} ms")


if __name__ == "__main__":
    main()
