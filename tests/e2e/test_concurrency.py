"""Two applies started at once on the same state: one holds the lock, the other fails naming the
holder or, with ``--lock-timeout``, waits and then finds nothing left to do. Never a duplicate.
"""

from __future__ import annotations

import re

import pytest

from reconciler.simulator.server import SimulatorServer
from tests.e2e.conftest import API_KEY, Cli
from tests.e2e.harness import Output, duplicate_keys, many_runs_spec, start_apply
from tests.polling import wait_until

RUNS = 6


def _two_applies(cli: Cli, sim: SimulatorServer, *args: str) -> list[tuple[int, str, str]]:
    """The first apply holds the lock with its first triggers held in the simulator while
    the second one starts; the triggers are answered once the second has failed on the lock
    or (``--lock-timeout``) said that it waits for it."""
    cli.write_spec("runs.yaml", many_runs_spec(RUNS))
    sim.hold()
    first = start_apply(cli.root, api_url=sim.url, api_key=API_KEY, args=args, capture=True)
    first_output = Output(first)
    wait_until(lambda: len(sim.held()) >= 1, message="the first apply never sent a trigger")
    second = start_apply(
        cli.root, api_url=sim.url, api_key=API_KEY, args=[*args, "--verbose"], capture=True
    )
    second_output = Output(second)
    if "--lock-timeout" in args:
        second_output.wait_for("waiting up to")
    else:
        second.wait(60)
    sim.release()
    done = []
    for proc, output in ((first, first_output), (second, second_output)):
        out, err = output.finish()
        done.append((proc.returncode, out, err))
    return done


@pytest.mark.slow
def test_second_apply_fails_naming_the_lock_holder(cli: Cli, sim: SimulatorServer) -> None:
    results = _two_applies(cli, sim, "--parallelism", "2")
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 1], results
    _, _, loser_err = next(r for r in results if r[0] == 1)
    assert "is locked" in loser_err
    assert "for 'apply'" in loser_err
    match = re.search(r"lock ([0-9a-f-]{36}) held by \S+ \(pid (\d+)\)", loser_err)
    assert match, loser_err
    assert f"reconciler force-unlock {match.group(1)}" in loser_err
    assert len(sim.runs()) == RUNS
    assert duplicate_keys(sim) == []
    assert len(cli.state()["runs"]) == RUNS


@pytest.mark.slow
def test_with_lock_timeout_the_second_apply_waits_then_has_nothing_to_do(
    cli: Cli, sim: SimulatorServer
) -> None:
    results = _two_applies(cli, sim, "--parallelism", "2", "--lock-timeout", "30s")
    assert [code for code, _, _ in results] == [0, 0], results
    outputs = sorted(out for _, out, _ in results)
    # One applied everything; the other planned against the state the first one left.
    assert sum("Apply complete!" in out for out in outputs) == 1
    assert sum("No changes" in out for out in outputs) == 1
    assert len(sim.runs()) == RUNS
    assert duplicate_keys(sim) == []
