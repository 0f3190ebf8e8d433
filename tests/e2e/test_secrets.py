"""The API key never lands in any output or file, even when things go wrong.

Failing applies (401, 5xx, dropped connections, a kill -9 leaving journal and lock behind),
with ``--debug`` and ``--verbose``, run as real processes with a distinctive key; then stdout,
stderr and every file under the project (state, journal, lock, backups, saved plan) are
searched for it.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.simulator.config import KeyGrant, SimulatorConfig
from reconciler.simulator.server import SimulatorServer
from tests.e2e.conftest import Cli, Result
from tests.e2e.harness import many_runs_spec, settle, start_apply
from tests.polling import wait_until

SECRET = "splx-SECRET-7f3a9c2e4b1d-DO-NOT-LEAK"
UNKNOWN_SECRET = "splx-REVOKED-0c9d8e7f6a5b-DO-NOT-LEAK"


@pytest.fixture
def secret_sim() -> Iterator[SimulatorServer]:
    config = SimulatorConfig(keys={SECRET: KeyGrant(label="secret")}, start_after=0.0)
    with SimulatorServer(config) as server:
        yield server


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


@pytest.mark.slow
def test_no_output_or_file_of_a_failing_apply_contains_the_key(
    tmp_path: Path, secret_sim: SimulatorServer
) -> None:
    sim = secret_sim
    cli = Cli(tmp_path, sim)
    cli.env["SPLX_API_KEY"] = SECRET
    cli.write_spec("runs.yaml", many_runs_spec(4))
    results: list[Result] = []

    # 401: a revoked key, with --debug.
    denied = cli.proc("apply", "--auto-approve", "--debug", env={"SPLX_API_KEY": UNKNOWN_SECRET})
    assert denied.code == 1 and "401" in denied.err
    results.append(denied)

    # 5xx on everything, --verbose: triggers become unknown; cancels are retried and fail.
    sim.set_faults(error_rate=1.0)
    failed = cli.proc("apply", "--auto-approve", "--verbose", "--target", "run-000")
    assert failed.code == 1 and "500" in failed.all
    results.append(failed)

    # Dropped connections after the run was created, --debug.
    sim.set_faults(error_rate=0.0, drop_after_trigger_rate=1.0)
    dropped = cli.proc("apply", "--auto-approve", "--debug", "--target", "run-001")
    assert dropped.code == 1 and "unknown" in dropped.all
    results.append(dropped)

    # A saved plan, and the plan itself in every format.
    sim.set_faults(drop_after_trigger_rate=0.0)
    for fmt in ("text", "json", "markdown"):
        results.append(cli.proc("plan", "--format", fmt, "--out", "saved.plan", "--debug"))

    # kill -9 in the middle: journal and lock stay behind for the grep.
    sim.hold()  # its first triggers wait in the simulator until the kill has landed
    proc = start_apply(cli.root, api_url=sim.url, api_key=SECRET, args=["--debug"])
    wait_until(lambda: len(sim.held()) > 0, message="the apply never reached the simulator")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    sim.release()
    state_path = cli.state_path
    journal = state_path.with_name(state_path.name + ".journal")
    lock = state_path.with_name(state_path.name + ".lock")
    assert journal.exists() and lock.exists()
    left_behind = {p: p.read_bytes() for p in _files(cli.root)}
    settle(sim)

    # Recovery (stale lock, journal fold, backups), state commands.
    results.append(cli.proc("apply", "--auto-approve", "--debug", "--force"))
    results.append(cli.proc("state", "list", "--debug"))
    results.append(cli.proc("state", "show", "run-002", "--json"))
    results.append(cli.proc("destroy", "--auto-approve", "--verbose"))

    assert any(".backups" in str(p) for p in _files(cli.root)), "backups were written"
    assert (cli.root / "saved.plan").exists()
    leaks = [i for i, r in enumerate(results) if SECRET in r.all or UNKNOWN_SECRET in r.all]
    assert leaks == [], [results[i] for i in leaks]
    for path, data in {**left_behind, **{p: p.read_bytes() for p in _files(cli.root)}}.items():
        assert SECRET.encode() not in data, path
        assert UNKNOWN_SECRET.encode() not in data, path
