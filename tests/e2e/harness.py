"""Crash-safety harness shared by the e2e tests and ``bench/kill_trials.py``.

A kill trial starts ``reconciler apply`` as a real process against the in-process simulator,
kills it with SIGKILL after a chosen delay, and then checks, from the outside, what a user
would rely on:

1. the state still loads (``LocalStateStore.read`` and ``reconciler state list``);
2. every run the simulator created is in state under its key with its id, or flagged unknown;
3. a following ``apply --auto-approve`` (without ``--retrigger-unknown``) succeeds and triggers
   nothing twice: the simulator never holds two runs of one key, and unknown keys stay unknown.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.commands.common import Session, Settings
from reconciler.commands.planning import PlanOptions
from reconciler.errors import ReconcilerError
from reconciler.simulator.server import SimulatorServer
from reconciler.state.local import LocalStateStore
from reconciler.state.model import State

if TYPE_CHECKING:
    from tests.e2e.conftest import Cli, Runner

REPO = Path(__file__).resolve().parents[2]
WORKSPACE = 1234


# --- two runs applied, read and aged: shared by the refresh and ended-run tests --------------

SPEC_TWO_RUNS = """\
workspaceId: 1234
defaults:
  notifyWhenFinished: true
testRuns:
  chatbot-jailbreak:
    targetId: 42
    probeIds: [102, 101, 101]
    name: Nightly jailbreak sweep
    runAiAnalysis: true
  support-bot-injection:
    targetId: 43
    probeIds: [103]
"""
JAILBREAK, INJECTION = "chatbot-jailbreak", "support-bot-injection"
#: ``SPEC_TWO_RUNS`` with ``rerunAfter: 7d`` for both runs.
RERUN_SPEC = SPEC_TWO_RUNS.replace(
    "  notifyWhenFinished: true", "  notifyWhenFinished: true\n  rerunAfter: 7d"
)


def applied(cli: Cli, run: Runner, spec: str = SPEC_TWO_RUNS) -> dict[str, int]:
    """Write ``spec`` and apply it; each tracked key's test run id."""
    cli.write_spec("runs.yaml", spec)
    done = run("apply", "--auto-approve")
    assert done.code == 0, done.all
    runs = cli.state()["runs"]
    assert isinstance(runs, dict)
    return {key: entry["testRunId"] for key, entry in runs.items()}


def status_reads(sim: SimulatorServer) -> int:
    """How many status reads (a refresh's or a wait's requests) the simulator has answered."""
    return sum(1 for r in sim.requests() if r.method == "GET" and r.path.endswith("/status"))


def age_runs(cli: Cli, days: int) -> None:
    """Make every tracked run look triggered ``days`` ago (a state file edited in place; the
    plan's clock is the real one here, so the runs must be older instead)."""
    data = cli.state()
    when = datetime.now(UTC) - timedelta(days=days)
    runs = data["runs"]
    assert isinstance(runs, dict)
    for entry in runs.values():
        entry["triggeredAt"] = when.replace(microsecond=0).isoformat().replace("+00:00", "Z")
    cli.state_path.write_text(json.dumps(data))


def many_runs_spec(count: int, *, prefix: str = "run", target: int = 42) -> str:
    """A spec of ``count`` runs ``<prefix>-000``...; each run's name defaults to its key."""
    lines = [f"workspaceId: {WORKSPACE}", "testRuns:"]
    for index in range(count):
        lines += [f"  {prefix}-{index:03d}:", f"    targetId: {target}", "    probeIds: [1, 2]"]
    return "\n".join(lines) + "\n"


def runs_by_key(sim: SimulatorServer) -> dict[str, list[dict[str, Any]]]:
    """The simulator's runs grouped by name, which is the key for specs without ``name``."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for run in sim.runs():
        grouped.setdefault(str(run["name"]), []).append(run)
    return grouped


def triggers_per_key(sim: SimulatorServer) -> Counter[str]:
    """How many runs the simulator created per spec key (a run's name defaults to its key)."""
    return Counter(str(run["name"]) for run in sim.runs())


def duplicate_keys(sim: SimulatorServer) -> list[str]:
    """Keys the simulator created more than one run for."""
    return sorted(key for key, count in triggers_per_key(sim).items() if count > 1)


def settle(sim: SimulatorServer, *, limit: float = 60.0) -> None:
    """Wait until the simulator has received and answered everything a gone client sent.

    A killed client leaves requests being handled (sleeping in ``latency``) and, on a loaded
    machine, bytes the server has not read yet; the runs they create must be seen before
    state and simulator are compared. ``SimulatorServer.idle`` says when no connection is
    open or waiting and no request is being handled: an event, not a quiet period.
    """
    deadline = time.monotonic() + limit
    while not sim.idle():
        if time.monotonic() > deadline:
            raise AssertionError(f"the simulator still had connections open after {limit} s")
        time.sleep(0.01)


def lost_runs(state: State, sim: SimulatorServer) -> list[int]:
    """Ids of live runs the simulator created whose key the state does not track at all."""
    return sorted(
        run["testRunId"]
        for key, runs in runs_by_key(sim).items()
        if key not in state.runs
        for run in runs
        if not run["canceled"]
    )


def state_problems(state: State, sim: SimulatorServer) -> list[str]:
    """Where state and simulator disagree in a way crash safety forbids."""
    problems = [
        f"run {run_id} was created but its key is not in state" for run_id in lost_runs(state, sim)
    ]
    created = runs_by_key(sim)
    for key, runs in created.items():
        entry = state.runs.get(key)
        if entry is None or entry.status == "unknown":
            continue
        if entry.test_run_id not in {r["testRunId"] for r in runs}:
            problems.append(
                f"{key}: state says run {entry.test_run_id}, simulator has "
                f"{[r['testRunId'] for r in runs]}"
            )
    for key, entry in state.runs.items():
        if entry.status == "triggered" and key not in created:
            problems.append(f"{key}: state has run {entry.test_run_id} the simulator never made")
    return problems


@dataclass
class CommandResult:
    code: int
    output: str


def run_command(
    command: str,
    *,
    state: Path,
    api_url: str,
    api_key: str,
    paths: Sequence[str] = (),
    retrigger_unknown: bool = False,
) -> CommandResult:
    """``apply --auto-approve`` or ``state list`` in this process, output captured.

    The command functions are the CLI minus click's parsing; calling them directly keeps a
    trial fast and works the same in pytest and in the bench script.
    """
    from reconciler.commands.planning import apply
    from reconciler.commands.state_cmds import state_list

    buffer = io.StringIO()
    settings = Settings(
        state=str(state),
        api_url=api_url,
        env={"SPLX_API_KEY": api_key, "NO_COLOR": "1"},
    )
    with (
        contextlib.redirect_stdout(buffer),
        contextlib.redirect_stderr(buffer),
        Session(settings) as session,
    ):
        try:
            if command == "state list":
                code = state_list(session)
            elif command == "apply":
                options = PlanOptions(paths=list(paths), retrigger_unknown=retrigger_unknown)
                code = apply(
                    session,
                    options,
                    plan_file=None,
                    auto_approve=True,
                    parallelism=4,
                    interactive=False,
                )
            else:
                raise ValueError(command)
        except ReconcilerError as err:
            print(f"Error: {err}")
            code = 1
    return CommandResult(code, buffer.getvalue())


def process_env(settings: Mapping[str, str | None]) -> dict[str, str]:
    """The environment of a real ``reconciler`` process: the caller's without its own
    ``SPLX_*``/``SPLXAI_*``/``RECONCILER_*`` settings, then ``settings`` (None removes a
    variable), and this checkout on ``PYTHONPATH``."""
    own = ("SPLX_", "SPLXAI_", "RECONCILER_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(own)}
    for key, value in settings.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    env["PYTHONPATH"] = str(REPO)
    return env


def start_apply(
    root: Path,
    *,
    api_url: str,
    api_key: str,
    args: Sequence[str] = (),
    capture: bool = False,
) -> subprocess.Popen[str]:
    """``python -m reconciler apply --auto-approve ARGS`` in ``root`` (specs/, state/)."""
    env = process_env(
        {
            "SPLX_API_KEY": api_key,
            "SPLX_API_URL": api_url,
            "RECONCILER_STATE": str(root / "state" / "reconciler.state.json"),
            "NO_COLOR": "1",
        }
    )
    output = subprocess.PIPE if capture else subprocess.DEVNULL
    return subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", "--auto-approve", *args],
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=output,
        text=True,
    )


class Output:
    """What a child process prints, read as it comes (one thread per pipe), so that a test can
    wait for a line (an event) instead of for a time it hopes is long enough."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self._lines: dict[str, list[str]] = {"out": [], "err": []}
        self._threads = [
            threading.Thread(target=self._read, args=(stream, name), daemon=True)
            for stream, name in ((proc.stdout, "out"), (proc.stderr, "err"))
            if stream is not None
        ]
        for thread in self._threads:
            thread.start()

    def _read(self, stream: Any, name: str) -> None:
        for line in stream:
            self._lines[name].append(line)

    def text(self, name: str = "err") -> str:
        return "".join(self._lines[name])

    def wait_for(self, text: str, *, name: str = "err", timeout: float = 60.0) -> None:
        """Return once ``text`` was printed on stderr (``name="out"``: stdout)."""
        deadline = time.monotonic() + timeout
        while text not in self.text(name):
            if time.monotonic() > deadline or (
                self.proc.poll() is not None and not any(t.is_alive() for t in self._threads)
            ):
                raise AssertionError(f"{text!r} never printed; got {self.text(name)!r}")
            time.sleep(0.01)

    def finish(self, timeout: float = 60.0) -> tuple[str, str]:
        """Wait for the process to exit; everything it printed (stdout, stderr)."""
        self.proc.wait(timeout)
        for thread in self._threads:
            thread.join(timeout)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        return self.text("out"), self.text("err")


@dataclass
class TrialResult:
    """What one kill trial found. ``problems`` empty means every guarantee held."""

    delay: float
    #: The apply finished before the kill (exit code), or None when it was killed.
    exit_code: int | None
    #: The kill left a journal behind: it came between the first record and the persist.
    mid_apply: bool
    #: Runs the simulator had created when the killed process was gone.
    created: int
    #: Unknown entries in state right after the kill.
    unknown: int
    #: Runs created whose key was not in state right after the kill (must be 0).
    lost: int = 0
    duplicates: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def kill_trial(
    sim: SimulatorServer,
    root: Path,
    *,
    runs: int,
    delay: float,
    api_key: str,
    parallelism: int = 4,
) -> TrialResult:
    """One trial in a fresh project ``root``; the simulator is cleared first."""
    sim.clear()
    specs = root / "specs"
    specs.mkdir(parents=True, exist_ok=True)
    (specs / "runs.yaml").write_text(many_runs_spec(runs))
    state_path = root / "state" / "reconciler.state.json"
    proc = start_apply(
        root, api_url=sim.url, api_key=api_key, args=["--parallelism", str(parallelism)]
    )
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    code = proc.wait()
    exit_code = None if code == -signal.SIGKILL else code
    settle(sim)

    store = LocalStateStore(state_path)
    mid_apply = store.journal_path.exists()
    problems: list[str] = []
    try:
        after_kill = store.read()
    except ReconcilerError as err:
        return TrialResult(delay, exit_code, mid_apply, len(sim.runs()), 0, problems=[str(err)])
    problems += [f"after the kill: {p}" for p in state_problems(after_kill, sim)]
    lost = len(lost_runs(after_kill, sim))
    unknown = sorted(k for k, r in after_kill.runs.items() if r.status == "unknown")
    listed = run_command("state list", state=state_path, api_url=sim.url, api_key=api_key)
    if listed.code != 0:
        problems.append(f"state list failed after the kill: {listed.output}")
    created = len(sim.runs())

    follow = run_command(
        "apply", state=state_path, api_url=sim.url, api_key=api_key, paths=[str(specs)]
    )
    # Unknown outcomes left for the user make apply exit 1 (everything else must succeed).
    expected = 1 if unknown else 0
    if follow.code != expected:
        problems.append(
            f"the next apply exited {follow.code}, not {expected}: {follow.output[-2000:]}"
        )
    final = LocalStateStore(state_path).read()
    problems += [f"after the next apply: {p}" for p in state_problems(final, sim)]
    still_unknown = sorted(k for k, r in final.runs.items() if r.status == "unknown")
    if still_unknown != unknown:
        problems.append(f"unknown keys changed without the user: {unknown} → {still_unknown}")
    missing = [f"run-{i:03d}" for i in range(runs) if f"run-{i:03d}" not in final.runs]
    if missing:
        problems.append(f"the next apply left keys untracked: {missing}")
    return TrialResult(
        delay,
        exit_code,
        mid_apply,
        created,
        len(unknown),
        lost=lost,
        duplicates=duplicate_keys(sim),
        problems=problems,
    )


def calibrate(sim: SimulatorServer, root: Path, *, runs: int, api_key: str) -> float:
    """Seconds a whole apply of ``runs`` runs takes as a process, start-up included."""
    sim.clear()
    specs = root / "specs"
    specs.mkdir(parents=True, exist_ok=True)
    (specs / "runs.yaml").write_text(many_runs_spec(runs))
    started = time.monotonic()
    proc = start_apply(root, api_url=sim.url, api_key=api_key, args=["--parallelism", "4"])
    if proc.wait() != 0:
        raise AssertionError("the calibration apply failed")
    return time.monotonic() - started
