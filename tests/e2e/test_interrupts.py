"""Ctrl-C (SIGINT) of a real apply process: the first stops new work and waits for the requests
in flight; the second abandons them at once, recording their triggers as unknown outcomes.

The simulator holds the requests (``SimulatorServer.hold``) until the test has seen the
process acknowledge the signal, so each signal lands between "sent" and "answered" by
construction, however loaded the machine.
"""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from reconciler.simulator.server import SimulatorServer
from reconciler.state.local import LocalStateStore
from tests.e2e.conftest import API_KEY, Cli, Runner
from tests.e2e.harness import (
    Output,
    duplicate_keys,
    many_runs_spec,
    runs_by_key,
    settle,
    start_apply,
)
from tests.polling import wait_until

EXIT_INTERRUPTED = 130


def _start_with_two_requests_held(
    cli: Cli, sim: SimulatorServer
) -> tuple[subprocess.Popen[str], Output]:
    """An apply of 6 runs, 2 at a time, whose first two triggers wait in the simulator."""
    cli.write_spec("runs.yaml", many_runs_spec(6))
    sim.hold()
    proc = start_apply(
        cli.root, api_url=sim.url, api_key=API_KEY, args=["--parallelism", "2"], capture=True
    )
    wait_until(lambda: len(sim.held()) >= 2, message="the apply never reached the simulator")
    return proc, Output(proc)


@pytest.mark.slow
def test_first_ctrl_c_finishes_requests_in_flight_and_records_them(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    proc, output = _start_with_two_requests_held(cli, sim)
    proc.send_signal(signal.SIGINT)
    output.wait_for("Interrupt received")
    sim.release()  # the two in flight are answered only now
    out, err = output.finish()
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert "2 triggered" in out and "4 not started" in out

    # Nothing new started after the interrupt; both runs in flight are in state with their ids.
    created = runs_by_key(sim)
    assert len(created) == 2
    runs = cli.state()["runs"]
    assert {k: v["testRunId"] for k, v in runs.items()} == {
        k: v[0]["testRunId"] for k, v in created.items()
    }
    assert not cli.state_path.with_name(cli.state_path.name + ".journal").exists()
    assert not cli.state_path.with_name(cli.state_path.name + ".lock").exists()

    assert run("apply", "--auto-approve").code == 0
    assert len(sim.runs()) == 6
    assert duplicate_keys(sim) == []


@pytest.mark.slow
def test_second_ctrl_c_abandons_at_once_and_records_unknown_outcomes(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    # The two triggers stay held: an exit can only mean the process abandoned them.
    proc, output = _start_with_two_requests_held(cli, sim)
    proc.send_signal(signal.SIGINT)
    output.wait_for("Interrupt received")
    # A second signal within 0.5 s of the first is the same user action (`timeout -s INT`);
    # the process took the first one before printing the line above.
    time.sleep(0.8)
    proc.send_signal(signal.SIGINT)
    out, err = output.finish()
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert "2 unknown" in out and "4 not started" in out
    assert "reconciler import KEY TEST_RUN_ID" in err

    state = LocalStateStore(cli.state_path).read()
    assert sorted(r.status for r in state.runs.values()) == ["unknown", "unknown"]
    assert not cli.state_path.with_name(cli.state_path.name + ".journal").exists()

    # The two abandoned triggers reached the server, which creates their runs later, for a
    # client that is gone.
    assert [path.endswith("/test-run/trigger") for path, _ in sim.held()] == [True, True]
    sim.release()
    settle(sim)
    created = runs_by_key(sim)
    assert sorted(created) == sorted(state.runs)
    plan = run("plan")
    assert plan.out.count("unknown") >= 2
    # Triggers the 4 others, not the unknowns, and exits 1 while those wait for the user.
    assert run("apply", "--auto-approve").code == 1
    assert len(sim.runs()) == 6
    assert duplicate_keys(sim) == []
    for key, (found,) in created.items():
        assert run("import", key, str(found["testRunId"])).code == 0
    assert run("plan", "--detailed-exitcode").code == 0


@pytest.mark.slow
def test_sigterm_stops_like_the_first_ctrl_c(cli: Cli, sim: SimulatorServer) -> None:
    proc, output = _start_with_two_requests_held(cli, sim)
    proc.send_signal(signal.SIGTERM)
    output.wait_for("Terminate signal received")
    sim.release()
    out, err = output.finish()
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert "2 triggered" in out and "4 not started" in out
    assert {v["status"] for v in cli.state()["runs"].values()} == {"triggered"}


@pytest.mark.slow
def test_two_signals_at_once_count_as_one_interrupt(cli: Cli, sim: SimulatorServer) -> None:
    # What `timeout -s INT` does: the process, then its group, in the same instant.
    proc, output = _start_with_two_requests_held(cli, sim)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    output.wait_for("Interrupt received")
    sim.release()
    out, err = output.finish()
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert "2 triggered" in out and "0 unknown" in out
