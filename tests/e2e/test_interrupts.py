"""Ctrl-C (SIGINT) of a real apply process: the first stops new work and waits for the requests
in flight; the second abandons them at once, recording their triggers as unknown outcomes.

The simulator's latency keeps requests in flight long enough for the signals to land
deterministically between "sent" and "answered".
"""

from __future__ import annotations

import signal
import subprocess
import time

import httpx
import pytest

from reconciler.simulator.server import SimulatorServer
from reconciler.state.local import LocalStateStore
from tests.e2e.conftest import API_KEY, Cli, Runner, api_requests
from tests.e2e.harness import duplicate_keys, many_runs_spec, runs_by_key, start_apply
from tests.polling import wait_until

EXIT_INTERRUPTED = 130
#: Longer than any test may take, so requests in flight are surely still unanswered.
ABANDONED_LATENCY = 60.0


def _start_and_wait_for_two_requests(
    cli: Cli, sim: SimulatorServer, latency: float
) -> subprocess.Popen[str]:
    cli.write_spec("runs.yaml", many_runs_spec(6))
    sim.set_faults(latency=latency)
    proc = start_apply(
        cli.root, api_url=sim.url, api_key=API_KEY, args=["--parallelism", "2"], capture=True
    )
    wait_until(lambda: len(api_requests(sim)) >= 2, message="the apply never reached the simulator")
    return proc


@pytest.mark.slow
def test_first_ctrl_c_finishes_requests_in_flight_and_records_them(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    proc = _start_and_wait_for_two_requests(cli, sim, latency=1.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert "Interrupt received" in err
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

    sim.set_faults(latency=0.0)
    assert run("apply", "--auto-approve").code == 0
    assert len(sim.runs()) == 6
    assert duplicate_keys(sim) == []


@pytest.mark.slow
def test_second_ctrl_c_abandons_at_once_and_records_unknown_outcomes(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    # The answers would take a minute: an exit within 10 s can only mean they were abandoned.
    proc = _start_and_wait_for_two_requests(cli, sim, latency=ABANDONED_LATENCY)
    first = time.monotonic()
    proc.send_signal(signal.SIGINT)
    time.sleep(0.8)  # past the grace period in which a second signal is the same action
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    took = time.monotonic() - first
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert took < 10, f"exit took {took:.1f}s after the first Ctrl-C"
    assert "2 unknown" in out and "4 not started" in out
    assert "reconciler import KEY TEST_RUN_ID" in err

    state = LocalStateStore(cli.state_path).read()
    assert sorted(r.status for r in state.runs.values()) == ["unknown", "unknown"]
    assert not cli.state_path.with_name(cli.state_path.name + ".journal").exists()

    # The two abandoned triggers reached the server, which would create their runs a minute
    # later. Replaying them stands in for that; the originals are cancelled, still sleeping,
    # when the simulator stops at the end of the test, so they create nothing twice.
    abandoned = [r for r in api_requests(sim) if r.path.endswith("/test-run/trigger")]
    assert len(abandoned) == 2
    sim.set_faults(latency=0.0)
    for request in abandoned:
        replayed = httpx.post(
            sim.url + request.path,
            content=request.body,
            headers={"X-Api-Key": API_KEY, "Content-Type": "application/json"},
        )
        assert replayed.status_code == 200, replayed.text
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
    proc = _start_and_wait_for_two_requests(cli, sim, latency=1.0)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert "Terminate signal received" in err
    assert "2 triggered" in out and "4 not started" in out
    assert {v["status"] for v in cli.state()["runs"].values()} == {"triggered"}


@pytest.mark.slow
def test_two_signals_at_once_count_as_one_interrupt(cli: Cli, sim: SimulatorServer) -> None:
    # What `timeout -s INT` does: the process, then its group, in the same instant.
    proc = _start_and_wait_for_two_requests(cli, sim, latency=1.0)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert "2 triggered" in out and "0 unknown" in out
