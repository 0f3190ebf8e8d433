"""kill -9 of a real apply process: no run id lost, nothing triggered twice, state loads.

The randomised trials print their seed; set ``RECONCILER_TEST_SEED`` to replay a sequence.
``bench/kill_trials.py`` runs the same trial many more times.
"""

from __future__ import annotations

import json
import os
import random
import signal
from pathlib import Path

import pytest

from reconciler.records import RunAttributes
from reconciler.simulator.server import SimulatorServer
from reconciler.state.local import LocalStateStore
from reconciler.state.model import JournalRecord
from tests.e2e.conftest import API_KEY, Cli, Runner, api_requests
from tests.e2e.harness import (
    calibrate,
    duplicate_keys,
    kill_trial,
    many_runs_spec,
    runs_by_key,
    settle,
    start_apply,
    state_problems,
)
from tests.polling import wait_until

TRIALS = 20
RUNS = 30
SEED = int(os.environ.get("RECONCILER_TEST_SEED", random.randrange(2**32)))


@pytest.mark.slow
def test_kill_9_at_random_moments_loses_no_run_and_triggers_none_twice(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    print(f"kill trials: seed {SEED} (RECONCILER_TEST_SEED={SEED} replays them)")
    sim.set_faults(latency=0.05)
    duration = min(calibrate(sim, tmp_path / f"cal{n}", runs=RUNS, api_key=API_KEY) for n in (1, 2))
    rng = random.Random(SEED)
    results = []
    for index in range(TRIALS):
        # Stratified: trial i kills somewhere in the i-th slice of the apply's duration, so
        # every phase (start-up, planning, triggering, persisting) is hit in every run.
        delay = duration * (index + rng.random()) / TRIALS
        results.append(
            kill_trial(sim, tmp_path / f"trial{index}", runs=RUNS, delay=delay, api_key=API_KEY)
        )
    broken = [r for r in results if r.problems or r.duplicates]
    assert not broken, f"seed {SEED}: {broken}"
    # The trials did test something: some kills landed while triggers were being recorded.
    assert any(r.mid_apply for r in results), f"seed {SEED}: no kill hit the apply: {results}"
    assert any(r.exit_code is None for r in results)


@pytest.mark.slow
def test_after_a_kill_the_next_apply_reports_the_stale_lock_and_keeps_unknowns(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    cli.write_spec("runs.yaml", many_runs_spec(6))
    sim.hold()  # two triggers surely in flight when the kill comes
    proc = start_apply(cli.root, api_url=sim.url, api_key=API_KEY, args=["--parallelism", "2"])
    wait_until(lambda: len(sim.held()) >= 2, message="the apply never reached the simulator")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    sim.release()
    settle(sim)
    assert len(sim.runs()) == 2  # the server finished both triggers for a dead client
    lock_file = cli.state_path.with_name(cli.state_path.name + ".lock")
    assert json.loads(lock_file.read_text())["pid"] == proc.pid

    listed = run("state", "list")
    assert listed.code == 0, listed.all
    assert listed.out.count("\tunknown\tunknown") == 2

    plan = run("plan", "--detailed-exitcode")
    assert plan.code == 2
    assert "reconciler import" in plan.out

    applied = run("apply", "--auto-approve")
    assert applied.code == 1, applied.all  # the two unknown outcomes still need the user
    assert "2 runs still have an unknown outcome" in applied.err
    assert "took over a stale lock" in applied.err
    assert f"pid {proc.pid}" in applied.err
    assert duplicate_keys(sim) == []
    state = LocalStateStore(cli.state_path).read()
    assert state_problems(state, sim) == []
    unknown = sorted(k for k, r in state.runs.items() if r.status == "unknown")
    assert len(unknown) == 2
    assert len(sim.runs()) == 6

    # What the user does: look the runs up (here: in the simulator) and import them.
    created = runs_by_key(sim)
    for key in unknown:
        (found,) = created[key]
        assert run("import", key, str(found["testRunId"])).code == 0
    assert run("plan", "--detailed-exitcode").code == 0
    assert len(sim.runs()) == 6


def _leave_journal(cli: Cli, *records: JournalRecord, torn: bytes = b"") -> None:
    """What a crash leaves: records appended under the lock, no persist, maybe a torn line."""
    store = LocalStateStore(cli.state_path)
    with store.lock("apply"):
        store.recover()
        for record in records:
            store.append(record)
    if torn:
        with store.journal_path.open("ab") as journal:
            journal.write(torn)


def test_torn_journal_line_is_dropped_and_reported(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    cli.write_spec("runs.yaml", many_runs_spec(3))
    assert run("apply", "--auto-approve", "--target", "run-000").code == 0
    # A crash in the middle of writing the outcome of run-001's trigger.
    attrs = RunAttributes(workspace_id=1234, target_id=42, probe_ids=(1, 2), name="run-001")
    _leave_journal(
        cli,
        JournalRecord(op="trigger-intent", key="run-001", attributes=attrs),
        torn=b'{"key":"run-001","op":"trigger-do',
    )
    listed = run("state", "list")
    assert listed.code == 0, listed.all
    applied = run("apply", "--auto-approve")
    assert applied.code == 1, applied.all  # run-001's outcome is unknown: the user decides
    assert applied.err.count("ignored an incomplete last line") == 1
    runs = cli.state()["runs"]
    assert sorted(runs) == ["run-000", "run-001", "run-002"]
    assert runs["run-001"]["status"] == "unknown"  # its intent survived; its outcome did not
    assert sorted(runs_by_key(sim)) == ["run-000", "run-002"]


def test_intent_that_never_reached_the_api_is_retriggered_only_on_request(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    cli.write_spec("runs.yaml", many_runs_spec(1))
    attrs = RunAttributes(workspace_id=1234, target_id=42, probe_ids=(1, 2), name="run-000")
    # A crash between the durable intent and the request: the API never saw it.
    _leave_journal(cli, JournalRecord(op="trigger-intent", key="run-000", attributes=attrs))

    plan = run("plan")
    assert "run-000" in plan.out and "unknown" in plan.out
    assert run("apply", "--auto-approve").code == 1  # left for the user to resolve
    assert api_requests(sim) == []  # not re-triggered silently
    assert cli.state()["runs"]["run-000"]["status"] == "unknown"

    # The simulator shows no such run, so the user re-triggers it.
    assert runs_by_key(sim) == {}
    retriggered = run("apply", "--auto-approve", "--retrigger-unknown")
    assert retriggered.code == 0, retriggered.all
    assert len(sim.runs()) == 1
    assert cli.state()["runs"]["run-000"]["testRunId"] == sim.runs()[0]["testRunId"]
    assert run("plan", "--detailed-exitcode").code == 0
