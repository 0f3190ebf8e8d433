"""How much of a no-change plan is the fixed cost of Python and the libraries it is built on.

    python bench/plan_floor.py [--runs 1000] [--repeat 15] [--callgrind]

Each line is a new process. Wall time is the fastest of ``--repeat`` runs (interference from
other work only ever adds time). With ``--callgrind`` (valgrind installed) each is also counted
in instructions, which repeat exactly whatever else the machine is doing (PYTHONHASHSEED=0):

- ``python -c pass``: the interpreter alone;
- the floor: importing click and PyYAML and building one pydantic model (pydantic, its
  plugin lookup through ``importlib.metadata``, its first schema), which every ``plan``
  needs before it reads a spec;
- the same floor as the CLI pays it: pydantic's plugin lookup skipped when no plugin is
  installed (``reconciler.pydantic_plugins``; trees that have it);
- ``reconciler plan --refresh=false`` of ``--runs`` runs (100 per file), all unchanged.

Recorded in docs/PERFORMANCE.md ("What a plan is made of").
"""

from __future__ import annotations

import argparse
import compileall
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run_all import CLI, TREE, base_env, spec_tree, tracked_state

_FLOOR = (
    "import click, yaml\nfrom pydantic import BaseModel\nclass A(BaseModel):\n    x: int\nA(x=1)\n"
)
_NO_LOOKUP = (
    "from reconciler.pydantic_plugins import skip_lookup_when_none_installed\n"
    "skip_lookup_when_none_installed()\n"
)


def fastest(command: list[str], env: dict[str, str], cwd: Path, times: int) -> float:
    best = float("inf")
    for _ in range(times):
        started = time.perf_counter()
        subprocess.run(command, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - started)
    return best


def instructions(command: list[str], env: dict[str, str], cwd: Path) -> int:
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *command],
        env={**env, "PYTHONHASHSEED": "0"},
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.search(r"Collected : (\d+)", done.stderr)
    if match is None:
        raise SystemExit(f"no instruction count from valgrind:\n{done.stderr[-1000:]}")
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--callgrind", action="store_true", help="count instructions too")
    args = parser.parse_args()
    # As pip does on install: without it, PYTHONDONTWRITEBYTECODE=1 (set on these machines)
    # would have every run compile the modules changed since the last compile.
    compileall.compile_dir(TREE[0] / "reconciler", quiet=1)
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        specs = spec_tree(tmp, args.runs, max(args.runs // 100, 1))
        state = tmp / "state.json"
        tracked_state(specs, state)
        env = base_env(RECONCILER_STATE=str(state))
        python = [sys.executable]
        steps = [
            ("python -c pass", [*python, "-c", "pass"]),
            ("click + PyYAML + pydantic, one model", [*python, "-c", _FLOOR]),
        ]
        if (TREE[0] / "reconciler" / "pydantic_plugins.py").exists():
            steps.append(
                ("  the same, no plugin lookup (as the CLI)", [*python, "-c", _NO_LOOKUP + _FLOOR])
            )
        steps.append(
            (
                f"reconciler plan --refresh=false, {args.runs:,} runs",
                [*CLI, "plan", str(specs), "--refresh=false"],
            )
        )
        print(f"tree {TREE[0]}, {os.cpu_count()} CPUs, fastest of {args.repeat}")
        figures = []
        for label, command in steps:
            seconds = fastest(command, env, tmp, args.repeat)
            counted = instructions(command, env, tmp) if args.callgrind else None
            figures.append((seconds, counted))
            extra = f"  {counted / 1e6:7,.0f} M instructions" if counted else ""
            print(f"  {label:<44} {seconds * 1000:6.0f} ms{extra}", flush=True)
        # The floor the plan pays: without the plugin lookup where the CLI skips it.
        (floor_s, floor_i), (plan_s, plan_i) = figures[-2], figures[-1]
        share = f"{floor_s / plan_s:.0%} of the plan's time"
        if floor_i and plan_i:
            share += f", {floor_i / plan_i:.0%} of its instructions"
        print(f"  the floor is {share}")


if __name__ == "__main__":
    main()
