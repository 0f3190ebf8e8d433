"""Safety rails and refusals through the CLI: nothing is sent and the state is left as it was.

Mass cancel without --force, empty specs without --allow-empty, ``protect: true``, stale saved
plans, a corrupt state file, a state written by a newer reconciler.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.simulator.server import SimulatorServer
from tests.e2e.conftest import Cli, Result, Runner, api_changes, api_requests
from tests.e2e.harness import many_runs_spec


def _refused(
    cli: Cli, sim: SimulatorServer, result: Result, *needles: str, state: bytes | None
) -> None:
    """The command failed with a clear message, sent nothing, and left the state untouched."""
    assert result.code == 1, result.all
    assert "Traceback" not in result.all
    for needle in needles:
        assert needle in result.err, result.err
    current = cli.state_path.read_bytes() if cli.state_path.exists() else None
    assert current == state


@pytest.fixture
def ten_tracked(cli: Cli, run: Runner, sim: SimulatorServer) -> bytes:
    cli.write_spec("runs.yaml", many_runs_spec(10))
    assert run("apply", "--auto-approve").code == 0
    return cli.state_path.read_bytes()


def test_mass_cancel_is_refused_without_force(
    cli: Cli, run: Runner, sim: SimulatorServer, ten_tracked: bytes
) -> None:
    sent = len(api_changes(sim))
    cli.write_spec("runs.yaml", many_runs_spec(6))  # 4 of 10 cancelled: 40% > 30%
    for command in (("plan",), ("apply", "--auto-approve")):
        result = run(*command)
        _refused(cli, sim, result, "4 of 10", "--force", state=ten_tracked)
    assert len(api_changes(sim)) == sent

    forced = run("apply", "--auto-approve", "--force")
    assert forced.code == 0, forced.all
    assert len(cli.state()["runs"]) == 6
    assert sum(r["canceled"] for r in sim.runs()) == 4


def test_three_of_ten_is_allowed(
    cli: Cli, run: Runner, sim: SimulatorServer, ten_tracked: bytes
) -> None:
    cli.write_spec("runs.yaml", many_runs_spec(7))
    assert run("apply", "--auto-approve").code == 0


def test_empty_specs_against_a_non_empty_state_are_refused(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    cli.write_spec("runs.yaml", many_runs_spec(2))
    assert run("apply", "--auto-approve").code == 0
    before = cli.state_path.read_bytes()
    sent = len(api_changes(sim))
    cli.write_spec("runs.yaml", "workspaceId: 1234\ntestRuns: {}\n")
    result = run("apply", "--auto-approve")
    _refused(cli, sim, result, "declare no test runs", "--allow-empty", state=before)
    assert len(api_changes(sim)) == sent
    allowed = run("apply", "--auto-approve", "--allow-empty")
    assert allowed.code == 0, allowed.all
    assert cli.state()["runs"] == {}


def test_protected_run_is_neither_replaced_nor_destroyed(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    spec = many_runs_spec(2).replace(
        "  run-000:\n    targetId: 42\n", "  run-000:\n    protect: true\n    targetId: 42\n"
    )
    cli.write_spec("runs.yaml", spec)
    assert run("apply", "--auto-approve").code == 0
    before = cli.state_path.read_bytes()
    sent = len(api_changes(sim))

    cli.write_spec("runs.yaml", spec.replace("targetId: 42", "targetId: 43"))
    replaced = run("apply", "--auto-approve", "--force")
    _refused(cli, sim, replaced, "protect", "run-000", state=before)
    destroyed = run("destroy", "--auto-approve")
    _refused(cli, sim, destroyed, "protect", "run-000", state=before)
    assert len(api_changes(sim)) == sent


def test_saved_plan_is_stale_after_state_or_specs_moved(
    cli: Cli, run: Runner, sim: SimulatorServer, tmp_path: Path
) -> None:
    cli.write_spec("runs.yaml", many_runs_spec(2))
    plan_file = str(tmp_path / "reviewed.plan")

    # The state moved (another apply) since the plan was saved.
    assert run("plan", "--target", "run-000", "--out", plan_file).code == 0
    assert run("apply", "--auto-approve", "--target", "run-001").code == 0
    before, sent = cli.state_path.read_bytes(), len(api_changes(sim))
    stale = run("apply", "--plan", plan_file)
    _refused(cli, sim, stale, "state changed since the plan was made", state=before)

    # The specs changed since the plan was saved.
    assert run("plan", "--out", plan_file).code == 0
    cli.write_spec("runs.yaml", many_runs_spec(3))
    stale = run("apply", "--plan", plan_file)
    _refused(cli, sim, stale, "specs ask for something else", state=before)
    assert len(api_changes(sim)) == sent


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b'{"version": 1, "lineage": "x", "runs": {', "invalid JSON"),
        (b"\xff\xfe not json", "UTF-8"),
        (b'{"version": 1, "lineage": "x", "serial": 1, "runs": {"a": 5}}', "reconciler.state"),
    ],
    ids=["truncated", "binary", "wrong-shape"],
)
def test_corrupt_state_is_refused_and_left_byte_identical(
    cli: Cli, run: Runner, sim: SimulatorServer, content: bytes, needle: str
) -> None:
    cli.write_spec("runs.yaml", many_runs_spec(2))
    cli.state_path.parent.mkdir(parents=True)
    cli.state_path.write_bytes(content)
    for command in (("plan",), ("apply", "--auto-approve"), ("state", "list")):
        result = run(*command)
        _refused(cli, sim, result, needle, state=content)
    assert api_requests(sim) == []
    assert sorted(p.name for p in cli.state_path.parent.iterdir()) == ["reconciler.state.json"]


def test_state_from_a_newer_reconciler_is_refused(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    cli.write_spec("runs.yaml", many_runs_spec(2))
    assert run("apply", "--auto-approve").code == 0
    document = json.loads(cli.state_path.read_text())
    document["version"] = 99
    newer = json.dumps(document).encode()
    cli.state_path.write_bytes(newer)
    sent = len(api_requests(sim))
    for command in (("plan",), ("apply", "--auto-approve"), ("state", "rm", "run-000")):
        result = run(*command)
        _refused(cli, sim, result, "newer reconciler", state=newer)
    assert len(api_requests(sim)) == sent
