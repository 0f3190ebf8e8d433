"""The findings targets of docs/PERFORMANCE.md ("Findings"): reading them, their size in state,
and ``status`` over recorded ones.

    python bench/bench_findings.py [--repeat 3] [--only read,size,status] [--keep DIR]
    python bench/run_all.py --only findings      # the same, from the installed package

- ``read``: 1,000 runs on a simulator answering every request after 50 ms, each run ending
  with one failing probe run of 10 FAILED test cases (``--outcome '*=failed@101:10'``). An
  ``apply`` triggers them and ``status --no-findings`` records their results (neither timed);
  then ``reconciler findings --parallelism 10`` is timed as a new process, from a copy of that
  state each time (the findings not yet recorded). The ideal is 1,000 × 50 ms / 10 = 5 s; the
  target 1.3 × that + 1 s. The bare ``read_findings`` call (the real client, in this process,
  on the same simulator and runs) is timed too, and the export requests each sent are
  counted at the simulator (exactly 1,000 each).
- ``size``: the state file that ``findings`` wrote above (1,000 runs, 10 findings each), and
  one where 5 of the 1,000 runs failed 200 test cases each (the most a run records); target:
  at most 3 MB. Bytes per finding = (file with findings − the same runs without) / findings.
- ``status``: ``status`` (text) over 10,000 ended runs with their findings recorded (the
  1,000 above ten times over), with a key set and the API URL on a closed loopback port, as
  ``run_all.py``'s status target: one request would exit 1. Target: within 1 s, 0 requests.

Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import compileall
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from run_all import (  # noqa: E402  (bench/ is the script's own directory)
    KEY,
    Measured,
    Target,
    base_env,
    repeat,
    run_cli,
    simulator,
    spec_tree,
)

from reconciler.state.codec import decode_state, encode_state  # noqa: E402
from reconciler.state.model import State, TrackedRun  # noqa: E402

RUNS = 1_000
FAILED = 10
WORST = 200
WORST_RUNS = 5
LATENCY = 0.05
PARALLELISM = 10
MAX_STATE_BYTES = 3_000_000
BENCHES = ("read", "size", "status")


def _outcomes(worst: bool) -> list[str]:
    """Every run fails 10 test cases of probe 101 and ends at once; with ``worst``, the first
    5 runs of the first spec file (``Nightly sweep 0.0`` to ``0.4``) fail 200."""
    rules = ["--outcome", f"*=failed@101:{FAILED},finishAfter:0"]
    if worst:
        worst_names = f"Nightly sweep 0.[0-{WORST_RUNS - 1}]"
        rules += ["--outcome", f"{worst_names}=failed@101:{WORST},finishAfter:0"]
    return rules


def _ended_runs(tmp: Path, url: str, state: Path) -> dict[str, str]:
    """Trigger ``RUNS`` runs and record their ended results (findings not read); the env."""
    specs = spec_tree(tmp, RUNS, RUNS // 100)
    env = base_env(SPLX_API_KEY=KEY, SPLX_API_URL=url, RECONCILER_STATE=str(state))
    for args in (
        ["apply", str(specs), "--auto-approve", "--parallelism", "50"],
        ["--no-config", "status", "--no-findings", "--parallelism", "50"],
    ):
        m = run_cli(args, env, tmp)
        if m.status != 0:
            raise SystemExit(f"setup {args[0]}: exit {m.status}\n{m.output[-2000:]}")
    ended = decode_state(state.read_bytes(), str(state))
    assert len(ended.runs) == RUNS and all(r.result and r.result.ended for r in ended.runs.values())
    return env


def _exports(url: str) -> int:
    """Export requests the simulator has logged so far."""
    import httpx

    log = httpx.get(f"{url}/_simulator/requests", timeout=30).json()["requests"]
    return sum(1 for r in log if r["method"] == "POST" and "/test-cases" in r["path"])


def _recorded(state: Path) -> State:
    done = decode_state(state.read_bytes(), str(state))
    missing = [k for k, r in done.runs.items() if r.result is None or r.result.findings is None]
    if missing:
        raise SystemExit(f"findings not recorded for {len(missing)} runs, e.g. {missing[0]}")
    return done


def bench_read(tmp: Path, times: int) -> tuple[list[Target], Path, Path]:
    """Target F1; returns the targets and the state before and after ``findings``."""
    before = tmp / "findings-before.state.json"
    after = tmp / "findings-after.state.json"
    ideal = RUNS * LATENCY / PARALLELISM
    cli: list[Measured] = []
    bare: list[float] = []
    sent: list[int] = []
    with simulator("--latency", str(LATENCY), *_outcomes(worst=False)) as url:
        env = _ended_runs(tmp, url, before)
        work = tmp / "findings.state.json"
        env["RECONCILER_STATE"] = str(work)
        args = ["--no-config", "findings", "--parallelism", str(PARALLELISM)]

        def once() -> Measured:
            shutil.copyfile(before, work)
            sent_before = _exports(url)
            m = run_cli(args, env, tmp)
            sent.append(_exports(url) - sent_before)
            shown = m.output.count(f"{FAILED} failed ({FAILED} new, 0 known; 0 fixed)")
            if m.status == 0 and shown != RUNS:
                return Measured(m.seconds, m.peak_mb, 1, m.output)
            return m

        cli = repeat(times, f"findings {RUNS} runs, {LATENCY * 1000:.0f} ms, p={PARALLELISM}", once)
        shutil.copyfile(work, after)
        _recorded(after)
        for n in range(times):
            sent_before = _exports(url)
            bare.append(_bare_read(url, before))
            sent.append(_exports(url) - sent_before)
            print(f"  read_findings #{n + 1}: {bare[-1]:6.2f} s", flush=True)
    if any(n != RUNS for n in sent):
        raise SystemExit(f"export requests per read: {sent}, expected {RUNS} each")
    t = statistics.median(m.seconds for m in cli)
    b = statistics.median(bare)
    print(
        f"  ideal {ideal:.2f} s; CLI {t:.2f} s = {t / ideal:.2f} ×, bare {b:.2f} s = "
        f"{b / ideal:.2f} ×; {RUNS} export requests each",
        flush=True,
    )
    limit = 1.3 * ideal + 1
    targets = [
        Target(
            "F1. findings 1,000 runs, 50 ms",
            f"{t:.2f} s = {t / ideal:.2f} × ideal",
            f"≤ {limit:.1f} s",
            t <= limit,
        ),
        Target(
            "F1. the bare read_findings",
            f"{b:.2f} s = {b / ideal:.2f} × ideal",
            f"≤ {limit:.1f} s",
            b <= limit,
        ),
    ]
    return targets, before, after


def _bare_read(url: str, state_path: Path) -> float:
    """Seconds of one ``read_findings`` of every run of ``state_path``, in this process."""
    from reconciler.api.client import ProbeClient
    from reconciler.reading.findings import read_findings, wanted

    state = decode_state(state_path.read_bytes(), str(state_path))
    runs = wanted((key, run, run.result) for key, run in state.runs.items())
    assert len(runs) == RUNS
    client = ProbeClient(url, KEY, max_connections=PARALLELISM)
    try:
        started = time.perf_counter()
        reads = read_findings(client, runs, parallelism=PARALLELISM)
        seconds = time.perf_counter() - started
    finally:
        client.close()
    # A complete read is one that is recorded (``FindingsRead.recorded``).
    assert all(r.recorded is not None and len(r.findings) == FAILED for r in reads.values())
    return seconds


def _worst_state(tmp: Path) -> tuple[Path, Path]:
    """The 1,000 runs again, 5 of them failing 200 test cases; no latency (not timed)."""
    before = tmp / "worst-before.state.json"
    with simulator(*_outcomes(worst=True)) as url:
        env = _ended_runs(tmp, url, before)
        after = tmp / "worst-after.state.json"
        shutil.copyfile(before, after)
        env["RECONCILER_STATE"] = str(after)
        m = run_cli(["--no-config", "findings", "--parallelism", "50"], env, tmp)
        if m.status != 0:
            raise SystemExit(f"worst case findings: exit {m.status}\n{m.output[-2000:]}")
    return before, after


def bench_size(tmp: Path, before: Path, after: Path) -> list[Target]:
    """Target F2 for the state ``bench_read`` left, and for the worst case."""
    targets = []
    for label, (without, with_) in (
        (f"{FAILED} each", (before, after)),
        (f"{FAILED} each, {WORST_RUNS} with {WORST}", _worst_state(tmp)),
    ):
        state = _recorded(with_)
        findings = sum(
            r.result.findings.total for r in state.runs.values() if r.result and r.result.findings
        )
        size, base = with_.stat().st_size, without.stat().st_size
        per = (size - base) / findings
        print(
            f"  state of {RUNS} runs, {label}: {size / 1e6:.2f} MB ({base / 1e6:.2f} MB without "
            f"findings); {findings:,} findings, {per:.0f} bytes each",
            flush=True,
        )
        targets.append(
            Target(
                f"F2. state, {label}",
                f"{size / 1e6:.2f} MB, {per:.0f} B/finding",
                "≤ 3 MB",
                size <= MAX_STATE_BYTES,
            )
        )
    return targets


def big_state(after: Path, path: Path, copies: int = 10) -> int:
    """``copies`` times the runs of ``after`` under other keys and run ids; returns the count."""
    state = _recorded(after)
    runs: dict[str, TrackedRun] = {}
    for c in range(copies):
        for key, run in state.runs.items():
            assert run.result is not None and run.test_run_id is not None
            run_id = run.test_run_id + 1_000_000 * c
            result = run.result.model_copy(update={"test_run_id": run_id})
            runs[f"copy-{c}/{key}"] = run.model_copy(
                update={"test_run_id": run_id, "result": result}
            )
    path.write_bytes(encode_state(State(lineage="bench", serial=1, runs=runs)))
    return len(runs)


def bench_status(tmp: Path, after: Path, times: int) -> list[Target]:
    """Target F3: ``status`` of 10,000 recorded runs with findings, no request."""
    path = tmp / "status-findings.state.json"
    count = big_state(after, path)
    print(f"  state of {count:,} runs with findings: {path.stat().st_size / 1e6:.1f} MB")
    env = base_env(SPLX_API_KEY=KEY, SPLX_API_URL="http://127.0.0.1:9", RECONCILER_STATE=str(path))
    summary = f"{count} runs: {count} passed, 0 failed, 0 still going."

    def once() -> Measured:
        m = run_cli(["--no-config", "status"], env, tmp)
        listed = m.output.count(f"{FAILED} failed ({FAILED} new, 0 known; 0 fixed)")
        if m.status == 0 and (summary not in m.output or listed != count):
            return Measured(m.seconds, m.peak_mb, 1, m.output)
        return m

    t = statistics.median(m.seconds for m in repeat(times, f"status {count} with findings", once))
    return [Target("F3. status 10k with findings", f"{t:.2f} s, 0 requests", "< 1 s", t < 1)]


def run(tmp: Path, only: set[str], times: int) -> list[Target]:
    """The chosen benchmarks; ``size`` and ``status`` use the state ``read`` leaves."""
    print("findings", flush=True)
    targets, before, after = bench_read(tmp, times if "read" in only else 1)
    if "read" not in only:
        targets = []
    if "size" in only:
        targets += bench_size(tmp, before, after)
    if "status" in only:
        targets += bench_status(tmp, after, times)
    return targets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default=",".join(BENCHES), help=", ".join(BENCHES))
    parser.add_argument(
        "--keep", type=Path, help="build the data in this directory and keep it (for profiling)"
    )
    args = parser.parse_args()
    # As run_all: the checkout's bytecode compiled, as an installed package has it.
    compileall.compile_dir(ROOT / "reconciler", quiet=1)
    only = set(args.only.split(","))
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        targets = run(args.keep.resolve(), only, args.repeat)
    else:
        with tempfile.TemporaryDirectory(prefix="reconciler-bench-findings-") as name:
            targets = run(Path(name), only, args.repeat)
    print()
    print(f"{'target':<34} {'measured (median)':<30} {'limit':<10} met")
    for t in targets:
        print(f"{t.name:<34} {t.figure:<30} {t.limit:<10} {'yes' if t.met else 'NO'}")
    sys.exit(0 if all(t.met for t in targets) else 1)


if __name__ == "__main__":
    main()
