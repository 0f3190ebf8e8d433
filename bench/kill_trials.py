"""kill -9 an apply at random moments, many times, and count what the guarantees depend on.

    python -m bench.kill_trials [--trials 200] [--runs 30] [--latency 0.05] [--seed N]

Each trial is the one ``tests/e2e/test_crash_safety.py`` runs 20 times (``tests/e2e/harness``):
a real ``reconciler apply`` process against the in-process simulator, SIGKILL after a random
delay within the duration of a whole apply, then checks that the state loads, that every run
the simulator created is in state or flagged unknown, and that the next apply triggers nothing
twice. Prints the figures recorded in docs/GUARANTEES.md.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from reconciler.simulator.config import KeyGrant, SimulatorConfig
from reconciler.simulator.server import SimulatorServer
from tests.e2e.harness import TrialResult, calibrate, kill_trial

API_KEY = "bench-kill-trials-key"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--runs", type=int, default=30, help="runs in the spec of each trial")
    parser.add_argument("--latency", type=float, default=0.05, help="simulator latency (s)")
    parser.add_argument("--parallelism", type=int, default=4)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    rng = random.Random(seed)
    config = SimulatorConfig(
        keys={API_KEY: KeyGrant(label="bench")}, start_after=0.0, latency=args.latency
    )
    started = time.monotonic()
    results: list[TrialResult] = []
    with SimulatorServer(config) as sim, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        duration = min(
            calibrate(sim, root / f"cal{n}", runs=args.runs, api_key=API_KEY) for n in range(3)
        )
        print(
            f"seed {seed}; {args.runs} runs per apply, parallelism {args.parallelism}, "
            f"latency {args.latency * 1000:.0f} ms; a whole apply takes {duration:.2f} s"
        )
        for index in range(args.trials):
            result = kill_trial(
                sim,
                root / f"trial{index}",
                runs=args.runs,
                delay=rng.uniform(0.0, duration),
                api_key=API_KEY,
                parallelism=args.parallelism,
            )
            results.append(result)
            if result.problems or result.duplicates:
                print(f"trial {index}: delay {result.delay:.3f}s: {result}")
    report(results, time.monotonic() - started)


def report(results: list[TrialResult], elapsed: float) -> None:
    killed = [r for r in results if r.exit_code is None]
    mid = [r for r in results if r.mid_apply]
    print(f"trials:                                  {len(results)}")
    print(f"killed before the apply finished:        {len(killed)}")
    print(f"kills mid-apply (journal left behind):   {len(mid)}")
    print(f"kills with a trigger in flight:          {sum(1 for r in results if r.unknown)}")
    print(f"unknown outcomes produced:               {sum(r.unknown for r in results)}")
    print(f"runs created by killed applies:          {sum(r.created for r in killed)}")
    print(f"lost run ids:                            {sum(r.lost for r in results)}")
    print(f"duplicate triggers:                      {sum(len(r.duplicates) for r in results)}")
    print(f"trials with any problem:                 {sum(1 for r in results if r.problems)}")
    print(f"elapsed:                                 {elapsed:.0f} s")


if __name__ == "__main__":
    main()
