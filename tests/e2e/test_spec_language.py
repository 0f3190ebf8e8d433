"""The spec language end to end: project config, probe sets, matrix, revision, moved, ${VAR}."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.simulator.server import SimulatorServer
from tests.e2e.conftest import Cli, Result, Runner, api_changes, api_requests

CONFIG = """\
specs: [team/]
state: .reconciler/state.json
workspaceId: 1234
probeSets:
  jailbreak: [101, 102]
"""

MATRIX = """\
testRuns:
  nightly:
    name: "Nightly {targetId}"
    probeIds: [jailbreak, 7]
    matrix:
      targetId: [42, 43]
"""


@pytest.fixture
def run(cli: Cli, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Runner:
    def invoke(*args: str, env: dict[str, str | None] | None = None) -> Result:
        # The project config's state applies only when RECONCILER_STATE is unset.
        return cli(
            *args,
            env={"RECONCILER_STATE": None, **(env or {})},
            monkeypatch=monkeypatch,
            capsys=capsys,
        )

    return invoke


@pytest.fixture
def project(cli: Cli) -> Path:
    (cli.root / ".git").mkdir()  # the walk up for reconciler.yaml stops here
    (cli.root / "reconciler.yaml").write_text(CONFIG)
    (cli.root / "team").mkdir()
    (cli.root / "team" / "nightly.yaml").write_text(MATRIX)
    (cli.root / "sub").mkdir()
    return cli.root


def state_runs(root: Path) -> dict[str, dict[str, object]]:
    document = json.loads((root / ".reconciler" / "state.json").read_text())
    runs: dict[str, dict[str, object]] = document["runs"]
    return runs


def test_config_matrix_and_probe_sets_apply_from_a_subdirectory(
    project: Path, run: Runner, sim: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = run("plan")
    assert plan.code == 0, plan.all
    assert "+ nightly[targetId=42]" in plan.out
    assert "declared at team/nightly.yaml:2" in plan.out
    applied = run("apply", "--auto-approve")
    assert applied.code == 0, applied.all
    runs = state_runs(project)
    assert sorted(runs) == ["nightly[targetId=42]", "nightly[targetId=43]"]
    listed = run("state", "list")
    assert "nightly[targetId=42]" in listed.out, listed.all
    attributes = runs["nightly[targetId=43]"]["attributes"]
    assert attributes == {
        "workspaceId": 1234,
        "targetId": 43,
        "probeIds": [7, 101, 102],
        "name": "Nightly 43",
        "runAiAnalysis": False,
        "notifyWhenFinished": False,
    }


def test_rename_then_revision_bump(project: Path, run: Runner, sim: SimulatorServer) -> None:
    assert run("apply", "--auto-approve").code == 0
    before = state_runs(project)
    sent = len(api_changes(sim))
    spec = project / "team" / "nightly.yaml"
    spec.write_text(
        MATRIX.replace("  nightly:", "  sweep:")
        + "moved:\n"
        + "  - {from: 'nightly[targetId=42]', to: 'sweep[targetId=42]'}\n"
        + "  - {from: 'nightly[targetId=43]', to: 'sweep[targetId=43]'}\n"
    )
    plan = run("plan", "--detailed-exitcode")
    assert plan.code == 2, plan.all
    assert "# sweep[targetId=42] has moved from nightly[targetId=42]" in plan.out
    assert "Plan: 0 to trigger, 0 to replace, 0 to cancel, 2 to move." in plan.out
    applied = run("apply", "--auto-approve")
    assert applied.code == 0, applied.all
    assert "2 moved" in applied.out
    assert len(api_changes(sim)) == sent  # a move never calls the API
    after = state_runs(project)
    assert after["sweep[targetId=42]"] == before["nightly[targetId=42]"]
    # The moved: entries stay as history and do nothing now.
    assert run("plan", "--detailed-exitcode").code == 0

    spec.write_text(spec.read_text().replace("    name:", "    revision: 2\n    name:"))
    bumped = run("plan")
    assert "~ revision: null → 2  # forces replacement" in bumped.out
    assert "Plan: 0 to trigger, 2 to replace, 0 to cancel." in bumped.out


def test_command_line_beats_environment_beats_config(
    project: Path, run: Runner, sim: SimulatorServer
) -> None:
    env_state = project / "env.json"
    flag_state = project / "flag.json"
    assert run("apply", "--auto-approve", env={"RECONCILER_STATE": str(env_state)}).code == 0
    assert env_state.exists() and not (project / ".reconciler").exists()
    assert (
        run(
            "apply",
            "--auto-approve",
            "--state",
            str(flag_state),
            env={"RECONCILER_STATE": str(env_state)},
        ).code
        == 0
    )
    assert flag_state.exists()
    assert run("--no-config", "validate").code == 1  # no specs/ without the config


def test_config_may_follow_the_command_as_in_terraform(project: Path, run: Runner) -> None:
    other = project / "sub" / "other.yaml"
    other.write_text(CONFIG.replace("[team/]", "[../team/]").replace(".reconciler/", "o/"))
    # The nearest reconciler.yaml is broken: only the named one may be read.
    (project / "reconciler.yaml").write_text("stat: x\n")
    for args in (
        ("--config", str(other), "apply", "--auto-approve"),
        ("apply", "--auto-approve", "--config", str(other)),
    ):
        applied = run(*args)
        assert applied.code == 0, applied.all
    # Either way the config's own state (relative to it) was used, the second apply a no-op.
    assert sorted(json.loads((project / "sub" / "o" / "state.json").read_text())["runs"]) == [
        "nightly[targetId=42]",
        "nightly[targetId=43]",
    ]
    listed = run("state", "list", "--config", str(other))
    assert "nightly[targetId=42]" in listed.out, listed.all
    same = run("--config", str(other), "plan", "--config", f"{project}/sub/../sub/other.yaml")
    assert same.code == 0, same.all
    twice = run("--config", str(other), "plan", "--config", "reconciler.yaml")
    assert twice.code == 1
    assert twice.err == (
        f"Error: --config is given twice with different files: {other} (before the command) "
        "and reconciler.yaml (after it): give it once\n"
    )
    contradiction = run("--no-config", "validate", "--config", str(other))
    assert "--config FILE and --no-config contradict each other" in contradiction.err
    assert run("validate", "--no-config").code == 1  # neither config: no specs/ here
    broken = run("validate")
    assert "reconciler.yaml:1: stat: unknown field 'stat'" in broken.err
    assert run("plan", "--help").code == 0  # help does not need a readable config


def test_a_matrix_over_the_configured_limit_sends_nothing(
    project: Path, run: Runner, sim: SimulatorServer
) -> None:
    (project / "reconciler.yaml").write_text(CONFIG + "maxMatrixRuns: 1\n")
    applied = run("apply", "--auto-approve")
    assert applied.code == 1
    assert (
        "team/nightly.yaml:5: testRuns.nightly.matrix: the matrix of 'nightly' would make 2 runs "
        "(2 targetId), more than the limit (maxMatrixRuns: 1 at reconciler.yaml:6)"
    ) in applied.err
    assert api_requests(sim) == []
    assert not (project / ".reconciler" / "state.json").exists()


def test_plan_accepts_lock_timeout_and_ignores_it_with_a_note(project: Path, run: Runner) -> None:
    plain = run("plan")
    planned = run("plan", "--lock-timeout", "5m")
    assert planned.code == 0, planned.all
    assert planned.out == plain.out
    assert (
        planned.err == plain.err + "Note: plan takes no state lock; --lock-timeout 5m is ignored.\n"
    )
    assert run("plan", "-q", "--lock-timeout", "5m").err == ""
    typo = run("plan", "--lock-timeout", "5 minutes")
    assert typo.code == 1
    assert "invalid duration '5 minutes'" in typo.err


def test_variables_and_config_errors(project: Path, run: Runner) -> None:
    (project / "team" / "env.yaml").write_text(
        "testRuns:\n  staged:\n    workspaceId: ${WS}\n    targetId: 1\n    probeIds: [1]\n"
    )
    unset = run("validate")
    assert unset.code == 1
    assert "team/env.yaml:3: testRuns.staged.workspaceId: environment variable WS is not set" in (
        unset.err
    )
    assert run("validate", env={"WS": "99"}).code == 0
    (project / "reconciler.yaml").write_text(CONFIG + "stat: x\n")
    broken = run("validate")
    assert "reconciler.yaml:6: stat: unknown field 'stat'" in broken.err
    assert "did you mean state?" in broken.err
    assert "1 error in the project config reconciler.yaml; nothing was sent" in broken.err
    (project / "reconciler.yaml").write_text(CONFIG.replace("[team/]", "[team/, nope]"))
    missing = run("validate", env={"WS": "99"})
    assert missing.code == 1
    assert "reconciler.yaml:1: specs: nope: no such file or directory" in missing.err


RENAMED_FROM = """\
workspaceId: 1234
testRuns:
  support-bot-weekly: {targetId: 42, probeIds: [310, 311]}
"""


def test_the_documented_rename_is_a_pure_move(cli: Cli, run: Runner, sim: SimulatorServer) -> None:
    # No project config here: the state is the one RECONCILER_STATE names.
    state = {"RECONCILER_STATE": str(cli.state_path)}
    cli.write_spec("r.yaml", RENAMED_FROM)
    assert run("apply", "--auto-approve", env=state).code == 0
    before = cli.state()["runs"]
    assert isinstance(before, dict)
    sent = len(api_changes(sim))
    cli.write_spec(
        "r.yaml",
        RENAMED_FROM.replace("support-bot-weekly:", "support-bot-regression:")
        + "moved: [{from: support-bot-weekly, to: support-bot-regression}]\n",
    )
    plan = run("plan", env=state)
    assert plan.code == 0, plan.all
    assert "# support-bot-regression has moved from support-bot-weekly" in plan.out
    assert "Plan: 0 to trigger, 0 to replace, 0 to cancel, 1 to move." in plan.out
    assert "forces replacement" not in plan.out
    applied = run("apply", "--auto-approve", env=state)
    assert applied.code == 0, applied.all
    assert len(api_changes(sim)) == sent
    after = cli.state()["runs"]
    assert isinstance(after, dict)
    assert list(after) == ["support-bot-regression"]
    assert after["support-bot-regression"]["testRunId"] == before["support-bot-weekly"]["testRunId"]
    assert after["support-bot-regression"]["attributes"]["name"] == "support-bot-weekly"
    assert run("plan", "--detailed-exitcode", env=state).code == 0


def test_a_second_rename_of_an_unnamed_run_is_a_pure_move_too(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    state = {"RECONCILER_STATE": str(cli.state_path)}
    cli.write_spec("r.yaml", RENAMED_FROM)
    assert run("apply", "--auto-approve", env=state).code == 0
    first = RENAMED_FROM.replace("support-bot-weekly:", "support-bot-regression:")
    cli.write_spec(
        "r.yaml", first + "moved: [{from: support-bot-weekly, to: support-bot-regression}]\n"
    )
    assert run("apply", "--auto-approve", env=state).code == 0
    sent = len(api_changes(sim))
    # Chains are refused, so the first entry goes with the second rename.
    cli.write_spec(
        "r.yaml",
        RENAMED_FROM.replace("support-bot-weekly:", "sbr2:")
        + "moved: [{from: support-bot-regression, to: sbr2}]\n",
    )
    plan = run("plan", env=state)
    assert plan.code == 0, plan.all
    assert "Plan: 0 to trigger, 0 to replace, 0 to cancel, 1 to move." in plan.out
    applied = run("apply", "--auto-approve", env=state)
    assert applied.code == 0, applied.all
    assert len(api_changes(sim)) == sent
    after = cli.state()["runs"]
    assert isinstance(after, dict)
    assert list(after) == ["sbr2"]
    assert after["sbr2"]["attributes"]["name"] == "support-bot-weekly"
    assert run("plan", "--detailed-exitcode", env=state).code == 0
    # The carried-out entry can go: the unnamed run keeps its name.
    cli.write_spec("r.yaml", RENAMED_FROM.replace("support-bot-weekly:", "sbr2:"))
    assert run("plan", "--detailed-exitcode", env=state).code == 0
