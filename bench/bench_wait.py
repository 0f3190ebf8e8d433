"""The waiting targets of docs/PERFORMANCE.md ("wait and gates"), in-process.

    python bench/bench_wait.py [--only rounds,memory,gates]

- ``rounds``: ``Waiter`` over 1,000 runs against the simulator (a subprocess) answering every
  request after 50 ms, 20 reads at a time, through the real ``ProbeClient``. The ideal round
  is 1,000 / 20 x 50 ms = 2.5 s; the target is 1.3 x that. Between rounds half the runs are
  cancelled "in the web UI": the round after reads them once more and finds them Canceled,
  the next one reads only the other 500 (ended runs are never read again).
- ``memory``: a two-hour wait (interval 30 s: 240 rounds) over 100 runs that never end, on
  the simulator's clock: an in-process simulator whose clock is the wait's own simulated
  clock, so two hours pass in seconds. Resident memory is sampled every round; the target is
  that the last quarter's RSS is within 2 MB of the first quarter's.
- ``gates``: ``build_results`` (every gate evaluated) and the JUnit file written, for 10,000
  ended runs of 3 probe runs each; target under 1 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from run_all import KEY, Target, simulator  # noqa: E402  (bench/ is the script's own directory)

from reconciler.api.client import ProbeClient  # noqa: E402
from reconciler.files import atomic_write  # noqa: E402
from reconciler.reading.wait import Waiter, WaitOptions  # noqa: E402
from reconciler.records import RunAttributes  # noqa: E402
from reconciler.results.gate import Gate  # noqa: E402
from reconciler.results.model import Counts, ProbeRunResult, RunResult  # noqa: E402
from reconciler.results.observation import Observation, Refresh  # noqa: E402
from reconciler.results.summary import build_results  # noqa: E402
from reconciler.results.views.junit import render_junit  # noqa: E402
from reconciler.simulator.config import KeyGrant, SimulatorConfig  # noqa: E402
from reconciler.simulator.server import SimulatorServer  # noqa: E402
from reconciler.state.model import TrackedRun  # noqa: E402


def _tracked(run_id: int, index: int) -> TrackedRun:
    attributes = RunAttributes(
        workspace_id=1234, target_id=42, probe_ids=(101, 102), name=f"run-{index:04d}"
    )
    return TrackedRun(
        test_run_id=run_id, attributes=attributes, triggered_at="2026-12-02T00:00:00Z"
    )


def _trigger(client: ProbeClient, count: int) -> dict[str, TrackedRun]:
    from concurrent.futures import ThreadPoolExecutor

    def one(index: int) -> tuple[str, TrackedRun]:
        key = f"run-{index:04d}"
        run_id = client.trigger(_tracked(0, index).attributes, key=key)
        return key, _tracked(run_id, index)

    with ThreadPoolExecutor(20) as pool:
        return dict(pool.map(one, range(count)))


class _SimClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def bench_rounds(runs: int = 1_000, parallelism: int = 20, latency: float = 0.05) -> list[Target]:
    """Round times of a wait over ``runs`` at ``latency`` per request."""
    import httpx

    ideal = runs / parallelism * latency
    with simulator("--latency", str(latency)) as url:
        admin = httpx.Client(base_url=url)
        client = ProbeClient(url, KEY, max_connections=parallelism)
        tracked = _trigger(client, runs)
        ids = sorted(run.test_run_id for run in tracked.values() if run.test_run_id is not None)
        durations: list[float] = []
        requests: list[int] = []
        started = [time.perf_counter()]
        last = [0]

        clock = _SimClock()
        cancelled = False

        def sleep(seconds: float) -> None:
            # Simulated time between rounds: the figure is the round itself.
            nonlocal cancelled
            clock.sleep(seconds)
            if len(durations) == 1 and not cancelled:
                cancelled = True
                for run_id in ids[: runs // 2]:
                    admin.post(f"/_simulator/runs/{run_id}/cancel").raise_for_status()
            started[0] = time.perf_counter()

        waiter = Waiter(
            client,
            tracked,
            options=WaitOptions(timeout=10**9, interval=1, parallelism=parallelism),
            clock=clock,
            sleep=sleep,
        )

        def on_round(progress: object) -> None:
            durations.append(time.perf_counter() - started[0])
            requests.append(waiter.progress().requests - last[0])
            last[0] = waiter.progress().requests
            if len(durations) == 4:
                raise KeyboardInterrupt  # enough rounds: the Waiter stops and reports

        waiter._on_round = on_round
        waiter.run()
        client.close()
        admin.close()
    full = [d for d, n in zip(durations, requests, strict=True) if n == runs]
    worst = max(full)
    shown = ", ".join(f"{d:.2f} s ({n} reads)" for d, n in zip(durations, requests, strict=True))
    print(f"  rounds: {shown}")
    print(
        f"  ideal full round {ideal:.2f} s; worst full round {worst:.2f} s = {worst / ideal:.2f} x"
    )
    return [
        Target(
            "W1. wait round, 1,000 runs, 50 ms",
            f"{worst:.2f} s = {worst / ideal:.2f} × ideal",
            "≤ 1.3 × 2.5 s",
            worst <= 1.3 * ideal,
        ),
        Target(
            "W1. ended runs read again",
            f"{requests[2] - runs // 2} extra reads",
            "0",
            requests[1] == runs and requests[2] == runs // 2,
        ),
    ]


def _rss_mb() -> float:
    import os

    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def bench_memory(runs: int = 100, hours: float = 2.0) -> list[Target]:
    clock = _SimClock()
    # The request log is capped at 10,000 entries; a log of 1 keeps its filling-up out of the
    # figure (it is the simulator's memory, not the wait's).
    config = SimulatorConfig(
        keys={KEY: KeyGrant(label="bench")}, start_after=0.0, request_log_limit=1
    )
    samples: list[float] = []
    with SimulatorServer(config, clock=clock) as sim:
        client = ProbeClient(sim.url, KEY, max_connections=20)
        tracked = _trigger(client, runs)
        waiter = Waiter(
            client,
            tracked,
            options=WaitOptions(timeout=hours * 3600, interval=30, parallelism=10),
            clock=clock,
            sleep=clock.sleep,
            on_round=lambda _p: samples.append(_rss_mb()),
        )
        began = time.perf_counter()
        outcome = waiter.run()
        took = time.perf_counter() - began
        client.close()
    quarter = max(1, len(samples) // 4)
    first, last = statistics.median(samples[:quarter]), statistics.median(samples[-quarter:])
    print(
        f"  {outcome.rounds} rounds, {outcome.refresh.requests} reads over "
        f"{outcome.waited / 3600:.1f} simulated hours in {took:.1f} s; "
        f"RSS {first:.1f} MB -> {last:.1f} MB"
    )
    assert outcome.timed_out
    return [
        Target(
            "W2. RSS growth, 2 h wait",
            f"{last - first:+.1f} MB ({outcome.rounds} rounds)",
            "≤ 2 MB",
            last - first <= 2,
        )
    ]


def _ended(index: int) -> RunResult:
    probes = tuple(
        ProbeRunResult(
            probe_name=f"Probe {101 + p}",
            probe_id=101 + p,
            probe_run_id=index * 10 + p,
            status="Finished",
            counts=Counts(total=20, passed=20 - (index + p) % 4, failed=(index + p) % 4),
        )
        for p in range(3)
    )
    return RunResult(test_run_id=index, status="Finished", probe_runs=probes, seen_at="t")


def bench_gates(runs: int = 10_000, times: int = 3) -> list[Target]:
    observations = {}
    for index in range(runs):
        key = f"run-{index:05d}"
        run = _tracked(index + 1, index).model_copy(update={"result": _ended(index + 1)})
        observations[key] = Observation(key, run, run.result, "state")
    refreshed = Refresh(observations)
    gates = {key: Gate(max_failed=5, max_failed_rate=0.2) for key in observations}
    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(times):
            began = time.perf_counter()
            results = build_results(refreshed, gates, platform="https://probe.splx.ai", read_at="t")
            atomic_write(Path(tmp) / "junit.xml", render_junit(results))
            figures.append(time.perf_counter() - began)
    took = statistics.median(figures)
    print(
        f"  {runs:,} runs: {', '.join(f'{f:.2f} s' for f in figures)}; {len(results.failed)} failed"
    )
    return [Target("W3. gates + JUnit, 10,000 runs", f"{took:.2f} s", "≤ 1 s", took <= 1)]


BENCHES: dict[str, Callable[[], list[Target]]] = {
    "rounds": bench_rounds,
    "memory": bench_memory,
    "gates": bench_gates,
}


def run(only: set[str]) -> list[Target]:
    targets: list[Target] = []
    for name, bench in BENCHES.items():
        if name in only:
            print(f"wait: {name}", flush=True)
            targets += bench()
    return targets


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--only", default=",".join(BENCHES), help="comma-separated: " + ", ".join(BENCHES)
    )
    targets = run(set(parser.parse_args().only.split(",")))
    for t in targets:
        print(f"{t.name:<34} {t.figure:<30} {t.limit:<14} {'yes' if t.met else 'NO'}")
    sys.exit(0 if all(t.met for t in targets) else 1)


if __name__ == "__main__":
    main()
