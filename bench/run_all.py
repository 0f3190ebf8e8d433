"""The performance targets of docs/PERFORMANCE.md, measured end to end.

    python bench/run_all.py [--repeat 3] [--only NAME,...]   (names: see --help)

Every figure is the real CLI run as a new process (``python -m reconciler ...``), timed from
spawn to exit, with its peak resident memory read from the kernel (``wait4``). Each benchmark
builds its own data in a temporary directory: spec files like the ones ``bench/spec_load.py``
writes, and for ``plan`` a 10,000-run state written through ``encode_state``. ``apply``
benchmarks start the simulator (``reconciler simulator --port 0``) in a subprocess, a fresh
one per repetition, and check that every run was triggered. ``terraform`` times Terraform
itself on the same machine in the same run (``terraform_data`` resources, see
``bench_terraform``), when a ``terraform`` binary is on the PATH. Prints one line per
measurement and a table of targets at the end; exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from spec_load import write_specs  # noqa: E402  (bench/ is the script's own directory)

from reconciler.spec import load_specs  # noqa: E402
from reconciler.state.codec import encode_state  # noqa: E402
from reconciler.state.model import State, TrackedRun  # noqa: E402

KEY = "bench-key-0123456789"
CLI = [sys.executable, "-m", "reconciler"]
#: The source tree whose ``reconciler`` the measured processes run (``--tree``): this checkout
#: by default; another one measures a "before" with the same data in the same run.
TREE = [ROOT]


@dataclass(frozen=True)
class Measured:
    """One process run: wall seconds, peak RSS in MB, exit status and its output."""

    seconds: float
    peak_mb: float
    status: int
    output: str


@dataclass
class Target:
    """One line of the final table."""

    name: str
    figure: str
    limit: str
    met: bool


# The measured process is started by this small launcher, not by the benchmark itself: Linux
# carries the peak RSS of a process's memory over an exec, so a CLI forked straight from this
# process (which holds the generated data) would report this process's size as its own peak.
_LAUNCHER = """
import json, os, sys, time
with open(sys.argv[1], "wb") as out:
    actions = [(os.POSIX_SPAWN_DUP2, out.fileno(), 1), (os.POSIX_SPAWN_DUP2, out.fileno(), 2)]
    started = time.perf_counter()
    pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ, file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - started
print(json.dumps([seconds, usage.ru_maxrss, os.waitstatus_to_exitcode(status)]))
"""


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> Measured:
    """Run ``reconciler ARGS`` once; output goes to a file (not a terminal, as in CI)."""
    return run_process([*CLI, *args], env, cwd)


def run_process(command: list[str], env: dict[str, str], cwd: Path) -> Measured:
    """Run ``command`` (its first item an absolute path) once, timed by the launcher."""
    with tempfile.NamedTemporaryFile(suffix=".out") as out:
        launched = subprocess.run(
            [sys.executable, "-S", "-c", _LAUNCHER, out.name, *command],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        )
        seconds, max_kb, status = json.loads(launched.stdout)
        text = Path(out.name).read_text()
    # ru_maxrss is in kilobytes on Linux.
    return Measured(seconds, max_kb / 1024, status, text)


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPLX_", "RECONCILER_"))}
    if CLI[0] == sys.executable:  # --in-place: the tree's package, on this interpreter
        env["PYTHONPATH"] = str(TREE[0])
    env["NO_COLOR"] = "1"
    env.update(extra)
    return env


@contextmanager
def simulator(*extra: str) -> Iterator[str]:
    """A simulator on a free loopback port; yields its base URL."""
    proc = subprocess.Popen(
        [*CLI, "simulator", "--port", "0", "--key", KEY, "--start-after", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=base_env(),
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        if not match:
            raise SystemExit(f"simulator did not start: {line!r}")
        yield match.group(0)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def install(tree: Path, root: Path) -> str:
    """A fresh virtual environment under ``root`` with ``tree`` installed as users install it
    (``pip install``, not editable: no dev tools, no editable-install finder, no ``.pth``
    hooks of test plugins); returns its Python."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    print(f"installing {tree} into {venv} ...", flush=True)
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(tree)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return python


def spec_tree(root: Path, runs: int, files: int) -> Path:
    specs = root / f"specs-{runs}-{files}"
    if not specs.exists():
        specs.mkdir()
        write_specs(specs, files, runs // files)
    return specs


def repeat(
    times: int, label: str, once: Callable[[], Measured], *, first: int = 1
) -> list[Measured]:
    """``times`` runs of ``once``, numbered from ``first``; exits on a failed run."""
    results = []
    for n in range(first, first + times):
        m = once()
        if m.status != 0:
            raise SystemExit(f"{label}: exit {m.status}\n{m.output[-2000:]}")
        print(f"  {label} #{n}: {m.seconds:6.2f} s  peak {m.peak_mb:6.1f} MB", flush=True)
        results.append(m)
    return results


def median_s(results: list[Measured]) -> float:
    return statistics.median(m.seconds for m in results)


Labelled = tuple[str, Callable[[], Measured]]


def alternate(
    times: int, first: Labelled, second: Labelled
) -> tuple[list[Measured], list[Measured]]:
    """``times`` runs of each, taking turns (first, second, first, ...): a machine shared with
    other work slows both sides of a comparison alike, instead of whichever ran during a busy
    spell."""
    ones: list[Measured] = []
    twos: list[Measured] = []
    for turn in range(1, times + 1):
        ones += repeat(1, first[0], first[1], first=turn)
        twos += repeat(1, second[0], second[1], first=turn)
    return ones, twos


@dataclass(frozen=True)
class Ratio:
    """How many times faster ``ours`` is than ``theirs``, from runs taken in turns."""

    theirs: list[Measured]
    ours: list[Measured]

    @property
    def paired(self) -> float:
        """The median of each turn's ratio: the figure the target is checked against."""
        return statistics.median(
            t.seconds / o.seconds for t, o in zip(self.theirs, self.ours, strict=True)
        )

    @property
    def of_minimums(self) -> float:
        """Fastest against fastest: each side's cost with the least interference."""
        return min(m.seconds for m in self.theirs) / min(m.seconds for m in self.ours)

    def describe(self) -> str:
        return (
            f"terraform median {median_s(self.theirs):.2f} s (min "
            f"{min(m.seconds for m in self.theirs):.2f}), reconciler median "
            f"{median_s(self.ours):.3f} s (min {min(m.seconds for m in self.ours):.3f}): "
            f"{self.paired:.1f} × faster (median of {len(self.ours)} turns; fastest against "
            f"fastest {self.of_minimums:.1f} ×)"
        )


# --- the benchmarks ------------------------------------------------------------------------


def bench_plan(tmp: Path, times: int) -> tuple[list[Measured], int]:
    """Target 1: plan over 10,000 runs in 100 files against a 10,000-run state, 1% changed."""
    specs = spec_tree(tmp, 10_000, 100)
    state_path = tmp / "plan.state.json"
    # 1% changed: the state has another target than the spec.
    count = tracked_state(specs, state_path, changed_every=100)
    env = base_env(RECONCILER_STATE=str(state_path))
    args = ["plan", str(specs), "--detailed-exitcode"]

    def once() -> Measured:
        m = run_cli(args, env, tmp)
        # --detailed-exitcode: 2 means "has changes", which is what this plan must report.
        if m.status == 2 and "100 to replace" in m.output.replace(",", ""):
            return Measured(m.seconds, m.peak_mb, 0, m.output)
        return m

    return repeat(times, "plan 10k", once), count


def bench_apply(tmp: Path, runs: int, times: int, parallelism: int, *sim: str) -> list[Measured]:
    """Targets 2, 3, 5: apply of ``runs`` new runs against a fresh simulator."""
    return repeat(times, *apply_once(tmp, runs, parallelism, *sim))


def apply_once(
    tmp: Path, runs: int, parallelism: int, *sim: str
) -> tuple[str, Callable[[], Measured]]:
    """A label, and one apply of ``runs`` new runs against a fresh simulator."""
    specs = spec_tree(tmp, runs, max(runs // 100, 1))
    label = f"apply {runs} p={parallelism}" + (f" {' '.join(sim)}" if sim else "")

    def once() -> Measured:
        state = tmp / f"apply-{runs}-{time.monotonic_ns()}.state.json"
        with simulator(*sim) as url:
            env = base_env(SPLX_API_KEY=KEY, SPLX_API_URL=url, RECONCILER_STATE=str(state))
            m = run_cli(
                ["apply", str(specs), "--auto-approve", "--parallelism", str(parallelism)],
                env,
                tmp,
            )
        if m.status == 0 and f"{runs} triggered" not in m.output:
            return Measured(m.seconds, m.peak_mb, 1, m.output)
        return m

    return label, once


def ended_state(path: Path, runs: int) -> None:
    """A state of ``runs`` runs that have all ended, each with its recorded result and the
    findings behind its failed test cases (one a probe run): without them, ``status`` would read
    the findings of every run."""
    from reconciler.records import RunAttributes
    from reconciler.results.findings import FindingRecord, fingerprint, record_findings
    from reconciler.results.model import Counts, ProbeRunResult, RunResult

    entries = {}
    for i in range(runs):
        run_id = 200_000 + i
        attributes = RunAttributes(
            workspace_id=1234,
            target_id=42,
            probe_ids=(101, 102),
            name=f"run-{i:05d}",
            run_ai_analysis=False,
            notify_when_finished=False,
        )
        result = RunResult(
            test_run_id=run_id,
            status="Finished",
            execution_date="2024-05-01T12:00:01Z",
            probe_runs=tuple(
                ProbeRunResult(
                    probe_name=f"Probe {probe}",
                    probe_run_id=run_id * 10 + n,
                    probe_id=probe,
                    status="Finished",
                    counts=Counts(total=20, passed=19, failed=1, errored=0),
                )
                for n, probe in enumerate((101, 102))
            ),
            seen_at="2024-05-01T13:00:00Z",
        )
        found = [
            FindingRecord(
                fingerprint=fingerprint(p.probe_id, f"ATK-{p.probe_id}-{i % 50}", None, None, None),
                probe_id=p.probe_id,
                probe_run_id=p.probe_run_id,
                attack=f"ATK-{p.probe_id}-{i % 50}",
            )
            for p in result.probe_runs
        ]
        result = result.model_copy(update={"findings": record_findings(found, result.seen_at)})
        entries[f"run-{i:05d}"] = TrackedRun(
            test_run_id=run_id,
            attributes=attributes,
            triggered_at="2024-05-01T12:00:00Z",
            result=result,
        )
    path.write_bytes(encode_state(State(lineage="bench", serial=1, runs=entries)))


def bench_status_ended(tmp: Path, times: int, fmt: str = "text") -> list[Measured]:
    """Status target 1: ``status --format FMT`` over 10,000 runs that have all ended. The API
    URL points at a closed loopback port: a single request would make a run unreadable and
    exit 1, so exit 0 with every run shown proves that none was sent. The output goes to a
    file, as in CI: the JSON document is the compact one (a terminal gets it indented)."""
    state_path = tmp / "status-ended.state.json"
    if not state_path.exists():
        ended_state(state_path, 10_000)
    env = base_env(
        SPLX_API_KEY=KEY, SPLX_API_URL="http://127.0.0.1:9", RECONCILER_STATE=str(state_path)
    )

    def shown(output: str) -> bool:
        if fmt == "text":
            return "10000 runs: 10000 passed, 0 failed, 0 still going." in output
        try:  # stdout and stderr share the file: anything on stderr spoils the document
            summary = json.loads(output)["summary"]
        except ValueError:
            return False
        return bool(summary["runs"] == summary["passed"] == 10_000)

    def once() -> Measured:
        m = run_cli(["--no-config", "status", "--format", fmt], env, tmp)
        if m.status == 0 and not shown(m.output):
            return Measured(m.seconds, m.peak_mb, 1, m.output)
        return m

    return repeat(times, f"status 10k ended, {fmt}", once)


def bench_status_latency(
    tmp: Path, times: int, runs: int = 1_000, latency: float = 0.05, parallelism: int = 10
) -> tuple[list[Measured], float]:
    """Status target 2: ``status`` over ``runs`` running runs, ``latency`` s per answer.

    The runs are triggered by an apply first (not timed; the simulator's runs never end).
    Start-up is measured as ``status --target`` of one run less its one request's latency, so
    the figure compared with ``runs * latency / parallelism`` is the reading alone."""
    specs = spec_tree(tmp, runs, max(runs // 100, 1))
    results: list[Measured] = []
    startups: list[float] = []
    for n in range(times):
        state = tmp / f"status-{runs}-{time.monotonic_ns()}.state.json"
        with simulator("--latency", str(latency)) as url:
            env = base_env(SPLX_API_KEY=KEY, SPLX_API_URL=url, RECONCILER_STATE=str(state))
            setup = run_cli(
                ["apply", str(specs), "--auto-approve", "--parallelism", "50"], env, tmp
            )
            if setup.status != 0:
                raise SystemExit(f"status setup apply: exit {setup.status}\n{setup.output[-2000:]}")
            one = run_cli(["--no-config", "status", "--target", "team-0/run-0"], env, tmp)
            m = run_cli(["--no-config", "status", "--parallelism", str(parallelism)], env, tmp)
        if m.status != 0 or f"{runs} runs: 0 passed, 0 failed, {runs} still going." not in m.output:
            raise SystemExit(f"status {runs} running: exit {m.status}\n{m.output[-2000:]}")
        if one.status != 0:
            raise SystemExit(f"status --target: exit {one.status}\n{one.output[-2000:]}")
        startups.append(max(one.seconds - latency, 0.0))
        print(
            f"  status {runs} running, {latency * 1000:.0f} ms, p={parallelism} #{n + 1}: "
            f"{m.seconds:6.2f} s  (start-up {startups[-1]:.2f} s)  peak {m.peak_mb:6.1f} MB",
            flush=True,
        )
        results.append(m)
    return results, statistics.median(startups)


def tracked_state(specs: Path, path: Path, *, changed_every: int = 0) -> int:
    """Write a state tracking every run of ``specs`` (each ``changed_every``-th with another
    target, so that it plans as a replace); returns the number of runs."""
    desired = load_specs([specs])
    runs = {}
    for i, (key, run) in enumerate(sorted(desired.runs.items())):
        attributes = run.attributes
        if changed_every and i % changed_every == 0:
            attributes = attributes.model_copy(update={"target_id": attributes.target_id + 1})
        runs[key] = TrackedRun(
            test_run_id=100_000 + i, attributes=attributes, triggered_at="2024-05-01T12:00:00Z"
        )
    path.write_bytes(encode_state(State(lineage="bench", serial=1, runs=runs)))
    return len(runs)


def plan_unchanged_once(tmp: Path, runs: int) -> tuple[str, Callable[[], Measured]]:
    """A label, and one ``plan --refresh=false`` of ``runs`` runs (100 per file) that all match
    the state: nothing to do, nothing read from the API (as ``terraform plan -refresh=false``)."""
    specs = spec_tree(tmp, runs, max(runs // 100, 1))
    state_path = tmp / f"unchanged-{runs}.state.json"
    tracked_state(specs, state_path)
    env = base_env(RECONCILER_STATE=str(state_path))

    def once() -> Measured:
        args = ["plan", str(specs), "--refresh=false", "--detailed-exitcode"]
        m = run_cli(args, env, tmp)
        if m.status == 0 and "No changes" not in m.output:
            return Measured(m.seconds, m.peak_mb, 1, m.output)
        return m

    return f"reconciler plan --refresh=false {runs}, no changes", once


# Terraform's own resource with no provider to download: each one is a value in the state,
# as a reconciler run is an entry in its state. Its input mirrors a run's attributes.
_TF_RESOURCE = """resource "terraform_data" "run_{i}" {{
  input = {{
    workspace_id = {workspace_id}
    target_id    = {target_id}
    probe_ids    = {probe_ids}
    name         = {name}
  }}
}}
"""


def terraform_input(i: int) -> dict[str, object]:
    """The input of resource ``run_{i}``: what the configuration says and the state keeps."""
    return {
        "name": f"Nightly sweep {i}",
        "probe_ids": [101, 102, i % 100 + 200],
        "target_id": i % 100 + 1,
        "workspace_id": 1234,
    }


# Terraform's type of that input (a tuple for the list literal), as its state records it.
_TF_INPUT_TYPE = [
    "object",
    {
        "name": "string",
        "probe_ids": ["tuple", ["number", "number", "number"]],
        "target_id": "number",
        "workspace_id": "number",
    },
]


def terraform_dir(root: Path, runs: int, terraform: str, env: dict[str, str]) -> Path:
    """A Terraform working directory of ``runs`` ``terraform_data`` resources, initialised."""
    work = root / f"tf-{runs}-{time.monotonic_ns()}"
    work.mkdir()
    body = "".join(
        _TF_RESOURCE.format(i=i, **{k: json.dumps(v) for k, v in terraform_input(i).items()})
        for i in range(runs)
    )
    (work / "main.tf").write_text(body)
    subprocess.run(
        [terraform, "init", "-input=false", "-no-color"],
        cwd=work,
        env=env,
        check=True,
        capture_output=True,
    )
    return work


def terraform_resources(runs: int) -> list[dict[str, object]]:
    """The ``resources`` of the state ``terraform apply`` leaves for ``terraform_dir``'s
    configuration: each resource created, its output equal to its input, no triggers. Only
    the ids differ from an applied state's (Terraform makes random ones)."""
    resources: list[dict[str, object]] = []
    for i in range(runs):
        value = {"value": terraform_input(i), "type": _TF_INPUT_TYPE}
        attributes = {
            "id": f"00000000-0000-0000-0000-{i:012d}",
            "input": value,
            "output": value,
            "triggers_replace": None,
        }
        resources.append(
            {
                "mode": "managed",
                "type": "terraform_data",
                "name": f"run_{i}",
                "provider": 'provider["terraform.io/builtin/terraform"]',
                "instances": [
                    {"schema_version": 0, "attributes": attributes, "sensitive_attributes": []}
                ],
            }
        )
    # Terraform writes its resources sorted by address.
    resources.sort(key=lambda r: str(r["name"]))
    return resources


def write_terraform_state(work: Path, runs: int, version: str) -> None:
    """``work``'s ``terraform.tfstate`` (format 4) as if ``terraform apply`` had created every
    resource: a plan then has all of them in its state. Creating 10,000 ``terraform_data`` by
    applying them takes Terraform more than 13 minutes; the plan reads the same file either
    way. Indented as Terraform writes it, so that it parses the same number of bytes."""
    state = {
        "version": 4,
        "terraform_version": version,
        "serial": 1,
        "lineage": "00000000-0000-0000-0000-000000000bec",
        "outputs": {},
        "resources": terraform_resources(runs),
        "check_results": None,
    }
    (work / "terraform.tfstate").write_text(json.dumps(state, indent=2) + "\n")


def terraform_env(root: Path) -> dict[str, str]:
    """No update check, no user CLI config (an empty one: nothing is read or fetched)."""
    config = root / "terraformrc"
    config.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    env.update(TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1", TF_CLI_CONFIG_FILE=str(config))
    return env


def terraform_plan_dir(
    root: Path, runs: int, terraform: str, version: str, env: dict[str, str]
) -> Path:
    """A working directory of ``runs`` resources with every one in its state, checked by one
    untimed ``terraform plan -detailed-exitcode``: a plan that would change anything is not
    the plan compared, so it stops the bench before anything is timed."""
    work = terraform_dir(root, runs, terraform, env)
    write_terraform_state(work, runs, version)
    check = subprocess.run(
        [terraform, "plan", "-refresh=false", "-input=false", "-no-color", "-detailed-exitcode"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if check.returncode != 0 or "No changes." not in check.stdout:
        raise SystemExit(
            f"terraform plan of the written state of {runs} resources is not a no-change plan "
            f"(exit {check.returncode}; 2 means it has changes): the state bench/run_all.py "
            f"writes no longer matches what terraform {version} expects; nothing was timed.\n"
            f"{(check.stdout + check.stderr)[-2000:]}"
        )
    return work


def check_applied_state(work: Path, runs: int) -> None:
    """Stop when the state ``terraform apply`` left in ``work`` differs from the one
    ``write_terraform_state`` writes for the plan, in anything but the random ids."""

    def without_ids(resources: list[dict[str, object]]) -> str:
        text = json.dumps(resources, sort_keys=True)
        return re.sub(r'"id": "[^"]*"', '"id": ""', text)

    applied = json.loads((work / "terraform.tfstate").read_text())["resources"]
    if without_ids(applied) != without_ids(terraform_resources(runs)):
        raise SystemExit(
            f"the state terraform apply left in {work} differs from the one bench/run_all.py "
            "writes for the plan (write_terraform_state): update the writer"
        )


@dataclass(frozen=True)
class TerraformRow:
    """One count of the side-by-side table: the plan ratio, and the apply ratio when measured
    (``apply_skipped`` says why not)."""

    runs: int
    plan: Ratio
    apply: Ratio | None
    apply_skipped: str = ""


def bench_terraform(
    tmp: Path, counts: list[int], times: int, apply_max: int
) -> list[TerraformRow] | None:
    """Terraform and reconciler side by side, in this run, on this machine, taking turns, for
    each of ``counts`` runs / resources:

    - apply (only for counts up to ``apply_max``): ``terraform apply`` creating ``runs``
      ``terraform_data`` resources (default ``-parallelism=10``) against ``reconciler apply``
      of ``runs`` new runs against the simulator (``--parallelism 10``);
    - plan: ``terraform plan -refresh=false`` of those resources, all in its state (written by
      ``write_terraform_state``, not applied) and unchanged, against ``reconciler plan
      --refresh=false`` of ``runs`` runs that all match its state (at least 5 turns: a plan is
      short, and a short run is the noisiest).

    Prints the side-by-side table and returns its rows, or None (with a note) when no
    ``terraform`` is on the PATH.
    """
    sizes = ", ".join(f"{runs:,}" for runs in counts)
    print(f"side by side with Terraform, {sizes} runs / resources", flush=True)
    terraform = shutil.which("terraform")
    if terraform is None:
        print("  skipped: no terraform binary on the PATH", flush=True)
        return None
    version = json.loads(
        subprocess.run(
            [terraform, "version", "-json"], capture_output=True, text=True, check=True
        ).stdout
    )["terraform_version"]
    print(f"  Terraform v{version} at {terraform}", flush=True)
    env = terraform_env(tmp)
    rows = []
    for runs in counts:
        if len(counts) > 1:
            print(f"  {runs:,} runs / resources", flush=True)
        rows.append(terraform_row(tmp, runs, times, apply_max, (terraform, version, env)))
    print_terraform_table(rows)
    return rows


def terraform_row(
    tmp: Path,
    runs: int,
    times: int,
    apply_max: int,
    terraform_at: tuple[str, str, dict[str, str]],
) -> TerraformRow:
    """The turns of one count (see ``bench_terraform``)."""
    terraform, version, env = terraform_at
    applies: Ratio | None = None
    skipped = ""
    if runs <= apply_max:

        def tf_apply() -> Measured:
            work = terraform_dir(tmp, runs, terraform, env)
            m = run_process(
                [terraform, "apply", "-auto-approve", "-input=false", "-no-color"], env, work
            )
            if m.status == 0 and f"{runs} added" not in m.output:
                return Measured(m.seconds, m.peak_mb, 1, m.output)
            if m.status == 0:
                check_applied_state(work, runs)
            return m

        applies = Ratio(
            *alternate(times, (f"terraform apply {runs}", tf_apply), apply_once(tmp, runs, 10))
        )
    else:
        # Terraform's apply of 10,000 terraform_data ran for more than 13 minutes here.
        skipped = f"not measured: {runs:,} > --terraform-apply-max {apply_max:,}"

    applied = terraform_plan_dir(tmp, runs, terraform, version, env)

    def tf_plan() -> Measured:
        command = [terraform, "plan", "-refresh=false", "-input=false", "-no-color"]
        m = run_process(command, env, applied)
        if m.status == 0 and "No changes" not in m.output:
            return Measured(m.seconds, m.peak_mb, 1, m.output)
        return m

    plans = Ratio(
        *alternate(
            max(times, 5),
            (f"terraform plan -refresh=false {runs}", tf_plan),
            plan_unchanged_once(tmp, runs),
        )
    )
    print(f"  plan: {plans.describe()}", flush=True)
    print(f"  apply: {applies.describe() if applies else skipped}", flush=True)
    return TerraformRow(runs, plans, applies, skipped)


def print_terraform_table(rows: list[TerraformRow]) -> None:
    """The side-by-side table: each side's median (its fastest run in parentheses) and the
    median of the turns' ratios (fastest against fastest in parentheses)."""

    def seconds(results: list[Measured]) -> str:
        return f"{median_s(results):.3g} s ({min(m.seconds for m in results):.3g})"

    def ratio(r: Ratio) -> str:
        return f"{r.paired:.1f} × ({r.of_minimums:.1f})"

    def line(*cells: str) -> str:
        return f"{cells[0]:>7}  " + " ".join(f"{c:<17}" for c in cells[1:]).rstrip()

    print()
    print("side by side with Terraform: median (min) of each side; ratio: median of the")
    print("turns' ratios (fastest against fastest)")
    print(
        line(
            "runs",
            "Terraform plan",
            "reconciler plan",
            "plan ratio",
            "Terraform apply",
            "reconciler apply",
            "apply ratio",
        )
    )
    for row in rows:
        cells = [f"{row.runs:,}", seconds(row.plan.theirs), seconds(row.plan.ours), ratio(row.plan)]
        if row.apply:
            cells += [seconds(row.apply.theirs), seconds(row.apply.ours), ratio(row.apply)]
        else:
            cells.append(row.apply_skipped)
        print(line(*cells), flush=True)


def bench_startup(times: int) -> tuple[list[Measured], list[Measured]]:
    """Target 4: ``--help`` and ``validate specs/examples/``."""
    env = base_env()
    helps = repeat(times, "--help", lambda: run_cli(["--help"], env, ROOT))
    examples = ["validate", "specs/examples/"]
    validates = repeat(times, "validate examples", lambda: run_cli(examples, env, ROOT))
    return helps, validates


def bench_simulator() -> float:
    """Target 6: bench/simulator_throughput.py, which drives the simulator from 2 processes."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "simulator_throughput.py")],
        capture_output=True,
        text=True,
        check=True,
        env=base_env(),
        cwd=ROOT,
    ).stdout
    print("  " + out.strip(), flush=True)
    match = re.search(r"([\d,]+) requests/s", out)
    assert match, out
    return float(match.group(1).replace(",", ""))


# --- main ----------------------------------------------------------------------------------


def counts(text: str) -> list[int]:
    """``--runs``: one count or several, comma-separated (``1000,10000``)."""
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r}: positive whole numbers, comma-separated (1000,10000), no thousands "
            "separators"
        )
    return values


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--only",
        default="startup,plan,apply,latency,status,simulator,report,wait,findings,terraform",
        help="comma-separated: startup, plan, apply, latency, status, simulator, report, "
        "wait, findings, terraform",
    )
    parser.add_argument(
        "--runs",
        type=counts,
        default=[1_000],
        help="runs (resources) of the terraform comparison; several, comma-separated "
        "(1000,10000), give one side-by-side table",
    )
    parser.add_argument(
        "--terraform-apply-max",
        type=int,
        default=1_000,
        help="compare apply only up to this many runs (Terraform's apply of 10,000 "
        "terraform_data takes over 13 minutes); the plan is compared at every count",
    )
    parser.add_argument(
        "--tree",
        type=Path,
        default=ROOT,
        help="measure the reconciler package of another checkout (e.g. a worktree of main)",
    )
    parser.add_argument(
        "--in-place",
        action="store_true",
        help="run the tree's package on this interpreter (PYTHONPATH) instead of installing it "
        "into a fresh virtual environment first; quicker, but this environment's extra "
        "packages and start-up hooks are measured too",
    )
    args = parser.parse_args()
    TREE[0] = args.tree.resolve()
    only = set(args.only.split(","))
    # An installed package has its bytecode compiled (pip does it); a checkout run with
    # PYTHONDONTWRITEBYTECODE=1 would otherwise compile every module in every measured run.
    compileall.compile_dir(TREE[0] / "reconciler", quiet=1)
    targets: list[Target] = []
    with tempfile.TemporaryDirectory(prefix="reconciler-bench-") as name:
        tmp = Path(name)
        if not args.in_place:
            CLI[0] = install(TREE[0], tmp)
        if "startup" in only:
            print("start-up", flush=True)
            helps, validates = bench_startup(max(args.repeat, 5))
            t = median_s(helps)
            targets.append(Target("4. reconciler --help", f"{t:.2f} s", "≤ 0.3 s", t <= 0.3))
            t = median_s(validates)
            targets.append(Target("4. validate specs/examples/", f"{t:.2f} s", "≤ 0.5 s", t <= 0.5))
        if "plan" in only:
            print("plan", flush=True)
            plans, _ = bench_plan(tmp, args.repeat)
            t = median_s(plans)
            targets.append(Target("1. plan 10k runs, 1% changed", f"{t:.2f} s", "≤ 2 s", t <= 2))
            mb = max(m.peak_mb for m in plans)
            targets.append(
                Target("5. peak memory of plan 10k", f"{mb:.0f} MB", "≤ 200 MB", mb <= 200)
            )
        if "apply" in only:
            print("apply", flush=True)
            small = bench_apply(tmp, 1_000, args.repeat, 10)
            big = bench_apply(tmp, 5_000, args.repeat, 10)
            t1, t5 = median_s(small), median_s(big)
            targets.append(Target("2. apply 5,000 new runs", f"{t5:.2f} s", "≤ 10 s", t5 <= 10))
            targets.append(
                Target("2. apply 5,000 / 1,000", f"{t5 / t1:.2f} ×", "≤ 5.5 ×", t5 / t1 <= 5.5)
            )
            huge = bench_apply(tmp, 10_000, 1, 10)
            mb = huge[0].peak_mb
            targets.append(
                Target("5. peak memory of apply 10k", f"{mb:.0f} MB", "≤ 200 MB", mb <= 200)
            )
        if "latency" in only:
            print("apply with 50 ms latency", flush=True)
            slow = bench_apply(tmp, 1_000, args.repeat, 20, "--latency", "0.05")
            t = median_s(slow)
            targets.append(
                Target(
                    "3. apply 1,000, 50 ms, p=20",
                    f"{t:.2f} s = {t / 2.5:.2f} × ideal",
                    "≤ 1.3 × 2.5 s",
                    t <= 1.3 * 2.5,
                )
            )
        if "status" in only:
            print("status", flush=True)
            ended = bench_status_ended(tmp, args.repeat)
            t = median_s(ended)
            targets.append(Target("7. status 10k ended, 0 requests", f"{t:.2f} s", "< 1 s", t < 1))
            t = median_s(bench_status_ended(tmp, args.repeat, "json"))
            targets.append(Target("7. the same, --format json", f"{t:.2f} s", "< 1 s", t < 1))
            reads, startup = bench_status_latency(tmp, args.repeat)
            t = median_s(reads)
            ideal = 1_000 * 0.05 / 10
            targets.append(
                Target(
                    "8. status 1,000 running, 50 ms",
                    f"{t:.2f} s = {(t - startup) / ideal:.2f} × ideal",
                    f"≤ 1.3 × {ideal:.0f} s + {startup:.2f}",
                    t <= 1.3 * ideal + startup,
                )
            )
        if "simulator" in only:
            print("simulator", flush=True)
            rate = bench_simulator()
            targets.append(
                Target("6. simulator triggers/s", f"{rate:,.0f}/s", "≥ 2,000/s", rate >= 2000)
            )
        if "report" in only:
            print("report", flush=True)
            from bench_report import measure

            page = measure(1_000, 50, 40, max(args.repeat, 3))
            targets.append(
                Target(
                    "9. report 1,000 runs, render",
                    f"{page.render_s:.2f} s",
                    "< 1 s",
                    page.render_s < 1,
                )
            )
            mb = page.size_bytes / 1e6
            targets.append(Target("9. report page size", f"{mb:.2f} MB", "< 2 MB", mb < 2))
        if "wait" in only:
            # In-process figures of waiting and gating (bench/bench_wait.py).
            import bench_wait

            targets += bench_wait.run(set(bench_wait.BENCHES))
        if "findings" in only:
            # Reading findings, their size in state, status over recorded ones
            # (bench/bench_findings.py), with the CLI measured here.
            import bench_findings

            targets += bench_findings.run(tmp, set(bench_findings.BENCHES), args.repeat)
        if "terraform" in only:
            compared = bench_terraform(tmp, args.runs, args.repeat, args.terraform_apply_max)
            for side in compared or []:
                for what, ratio in (("plan", side.plan), ("apply", side.apply)):
                    if ratio is None:
                        continue
                    targets.append(
                        Target(
                            f"7. {what} {side.runs:,} vs Terraform",
                            f"{ratio.paired:.1f} × ({median_s(ratio.ours):.2f} s vs "
                            f"{median_s(ratio.theirs):.2f} s)",
                            "≥ 10 ×",
                            ratio.paired >= 10,
                        )
                    )
    print()
    print(f"{'target':<34} {'measured (median)':<26} {'limit':<14} met")
    for row in targets:
        print(f"{row.name:<34} {row.figure:<26} {row.limit:<14} {'yes' if row.met else 'NO'}")
    sys.exit(0 if all(t.met for t in targets) else 1)


if __name__ == "__main__":
    main()
