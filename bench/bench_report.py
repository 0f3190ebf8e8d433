"""How fast ``reconciler report`` renders a big page, and how big the page is.

    python bench/bench_report.py [--runs 1000] [--targets 50] [--probes 40] [--repeat 5]

Builds 1,000 ended runs over 50 targets and 40 probes (each run a target and 8 of the
probes, failed counts varied, a tenth with a previous result, a tenth failing its gate), then:

- ``render``: ``render_report`` alone, the median of ``--repeat`` renders (the view);
- ``command``: ``reconciler report --refresh=false`` as a new process on a state file holding
  those runs (read state, gates, render, write), the median of ``--repeat``;
- the page's size in bytes.

Targets (docs/PERFORMANCE.md): render under 1 s, the file under 2 MB. Exits 1 when missed.
The whole command is reported too (wall and CPU time: on the shared dev box wall time is
mostly waiting for a core), not gated: Python's start-up and reading state are not the view's.
``bench/run_all.py --only report`` runs the same measurement.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reconciler.records import RunAttributes  # noqa: E402
from reconciler.results.gate import Gate  # noqa: E402
from reconciler.results.model import Counts, ProbeRunResult, RunResult  # noqa: E402
from reconciler.results.observation import Observation, Refresh  # noqa: E402
from reconciler.results.summary import ResultSet, build_results  # noqa: E402
from reconciler.results.views.html import heat_map, render_report  # noqa: E402
from reconciler.state.codec import encode_state  # noqa: E402
from reconciler.state.model import State, TrackedRun  # noqa: E402

CLI = [sys.executable, "-m", "reconciler", "--no-config", "report", "--refresh=false"]
PROBES_PER_RUN = 8
CASES_PER_PROBE = 50


@dataclass(frozen=True)
class Figures:
    render_s: float
    command_s: float
    #: CPU seconds (user + system) of the command: on a shared box wall time includes waiting.
    command_cpu_s: float
    size_bytes: int
    cells: int

    @property
    def met(self) -> bool:
        return self.render_s < 1.0 and self.size_bytes < 2_000_000


def make_runs(runs: int, targets: int, probes: int) -> dict[str, TrackedRun]:
    tracked = {}
    for i in range(runs):
        target = 100 + i % targets
        # The runs of one target take the probes 8 at a time, so every pair gets a cell.
        first = (i // targets) * PROBES_PER_RUN
        probe_ids = tuple(sorted({1 + (first + k) % probes for k in range(PROBES_PER_RUN)}))
        test_run_id = 10_000 + i
        probe_runs = tuple(
            ProbeRunResult(
                probe_name=f"Probe {probe:02d} — jailbreak family {probe % 6}",
                probe_run_id=test_run_id * 100 + n,
                probe_id=probe,
                status="Finished",
                counts=_counts((i + n * 3) % 11),
            )
            for n, probe in enumerate(probe_ids)
        )
        result = RunResult(
            test_run_id=test_run_id,
            status="Error" if i % 10 == 3 else "Finished",
            execution_date=f"2026-12-01T{i % 24:02d}:{i % 60:02d}:00Z",
            probe_runs=probe_runs,
            seen_at="2026-12-02T08:00:00Z",
        )
        history = (
            (result.model_copy(update={"test_run_id": test_run_id - 5_000}),) if i % 10 == 0 else ()
        )
        tracked[f"sweep[target={target},n={i:04d}]"] = TrackedRun(
            test_run_id=test_run_id,
            attributes=RunAttributes(
                workspace_id=1234,
                target_id=target,
                probe_ids=probe_ids,
                name=f"Nightly sweep {i} of target {target}",
                run_ai_analysis=False,
                notify_when_finished=False,
            ),
            triggered_at="2026-12-01T00:00:00Z",
            result=result,
            history=history,
        )
    return tracked


def _counts(failed: int) -> Counts:
    return Counts(total=CASES_PER_PROBE, passed=CASES_PER_PROBE - failed, failed=failed)


def result_set(tracked: dict[str, TrackedRun]) -> ResultSet:
    refresh = Refresh({k: Observation(k, run, run.result, "state") for k, run in tracked.items()})
    gates = {key: Gate(max_failed=40) for key in tracked}
    return build_results(
        refresh, gates, platform="https://probe.splx.ai", read_at="2026-12-02T08:00:00Z"
    )


def measure(runs: int, targets: int, probes: int, repeat: int) -> Figures:
    tracked = make_runs(runs, targets, probes)
    results = result_set(tracked)
    render_report(results)  # the first render also loads and compiles the template
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        render_report(results)
        times.append(time.perf_counter() - started)
    cells = len(heat_map(results).cells)  # from the model: the markup is compacted
    with tempfile.TemporaryDirectory(prefix="reconciler-bench-report-") as name:
        root = Path(name)
        state = root / "state.json"
        state.write_bytes(encode_state(State(lineage="bench", serial=1, runs=tracked)))
        out = root / "report.html"
        command, cpu = [], []
        for _ in range(repeat):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            subprocess.run(
                [*CLI, "--state", str(state), "--out", str(out)],
                cwd=root,
                check=True,
                capture_output=True,
                env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "NO_COLOR": "1"},
            )
            command.append(time.perf_counter() - started)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        size = out.stat().st_size
    return Figures(
        statistics.median(times), statistics.median(command), statistics.median(cpu), size, cells
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--targets", type=int, default=50)
    parser.add_argument("--probes", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    figures = measure(args.runs, args.targets, args.probes, args.repeat)
    print(
        f"report of {args.runs} runs, {args.targets} targets x {args.probes} probes: "
        f"{figures.cells} heat map cells"
    )
    print(f"  render_report (median of {args.repeat}): {figures.render_s:.3f} s (target < 1 s)")
    print(
        f"  reconciler report --refresh=false, whole process: {figures.command_s:.3f} s wall, "
        f"{figures.command_cpu_s:.3f} s CPU"
    )
    print(f"  page size: {figures.size_bytes / 1e6:.2f} MB (target < 2 MB)")
    sys.exit(0 if figures.met else 1)


if __name__ == "__main__":
    main()
