"""The core flow against the simulator as a real loopback server: plan, apply, re-plan,
replace, cancel, and the clear errors that leave state untouched."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.simulator.server import SimulatorServer
from tests.e2e.conftest import API_KEY, LIMITED_KEY, SPEC_TWO_RUNS, Cli, Runner, api_requests
from tests.polling import wait_until


def test_first_apply_sends_exactly_the_documented_requests(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    before = run("plan", "--detailed-exitcode")
    assert before.code == 2, before.all
    assert "Plan: 2 to trigger, 0 to replace, 0 to cancel." in before.out

    applied = run("apply", "--auto-approve")
    assert applied.code == 0, applied.all

    reqs = api_requests(sim)
    assert len(reqs) == 2
    bodies = {}
    for req in reqs:
        assert req.method == "POST"
        assert req.path == "/api/workspaces/1234/test-run/trigger"
        assert req.api_key_ok
        headers = {k.lower(): v for k, v in req.headers.items()}
        assert headers["content-type"] == "application/json"
        assert headers["user-agent"].startswith("reconciler/")
        assert "x-api-key" not in headers  # the simulator never logs the key itself
        body = json.loads(req.body)
        bodies[body["name"]] = body
    assert bodies == {
        "Nightly jailbreak sweep": {
            "targetId": 42,
            "probeIds": [101, 102],
            "name": "Nightly jailbreak sweep",
            "notifyWhenFinished": True,
            "runAiAnalysis": True,
        },
        "support-bot-injection": {
            "targetId": 43,
            "probeIds": [103],
            "name": "support-bot-injection",
            "notifyWhenFinished": True,
            "runAiAnalysis": False,
        },
    }
    state = cli.state()
    ids = {r["testRunId"] for r in sim.runs()}
    assert {run_["testRunId"] for run_ in state["runs"].values()} == ids
    assert state["serial"] == 1

    again = run("plan", "--detailed-exitcode")
    assert again.code == 0, again.all
    assert "No changes" in again.out


def test_changed_field_replaces_and_removed_key_cancels(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    assert run("apply", "--auto-approve").code == 0
    old = cli.state()["runs"]
    changed = SPEC_TWO_RUNS.replace("targetId: 42", "targetId: 44").replace(
        "  support-bot-injection:\n    targetId: 43\n    probeIds: [103]\n", ""
    )
    cli.write_spec("runs.yaml", changed)
    plan = run("plan")
    assert "targetId: 42 → 44" in plan.out
    assert "Plan: 0 to trigger, 1 to replace, 1 to cancel." in plan.out

    assert run("apply", "--auto-approve").code == 0
    paths = [(r.method, r.path) for r in api_requests(sim)][2:]
    assert (
        "POST",
        f"/api/workspaces/1234/test-run/{old['support-bot-injection']['testRunId']}/cancel",
    ) in paths
    assert (
        "POST",
        f"/api/workspaces/1234/test-run/{old['chatbot-jailbreak']['testRunId']}/cancel",
    ) in paths
    assert paths[-1] == ("POST", "/api/workspaces/1234/test-run/trigger")
    new = cli.state()["runs"]
    assert sorted(new) == ["chatbot-jailbreak"]
    assert new["chatbot-jailbreak"]["attributes"]["targetId"] == 44
    assert new["chatbot-jailbreak"]["testRunId"] != old["chatbot-jailbreak"]["testRunId"]
    assert run("plan", "--detailed-exitcode").code == 0


def test_cancel_of_an_ended_run_removes_it_with_a_note(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    sim.reconfigure(finish_after=0.2)  # runs finish by themselves after 0.2 s
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    assert run("apply", "--auto-approve").code == 0
    wait_until(
        lambda: [r["status"] for r in sim.runs()] == ["Finished", "Finished"],
        message="the runs did not finish by themselves",
    )
    cli.write_spec("runs.yaml", "workspaceId: 1234\ntestRuns: {}\n")
    result = run("apply", "--auto-approve", "--allow-empty")
    assert result.code == 0, result.all
    assert "nothing left to cancel" in result.all
    assert cli.state()["runs"] == {}


def _snapshot(cli: Cli) -> bytes | None:
    return cli.state_path.read_bytes() if cli.state_path.exists() else None


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SPLX_API_KEY": None}, "SPLX_API_KEY is not set"),
        ({"SPLX_API_KEY": "wrong-key-123456"}, "401"),
        ({"SPLX_API_KEY": LIMITED_KEY}, "1234"),
    ],
    ids=["missing-key", "401", "403"],
)
def test_api_errors_are_clear_and_leave_state_untouched(
    cli: Cli, run: Runner, sim: SimulatorServer, env: dict[str, str | None], expected: str
) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    assert run("apply", "--auto-approve", "--target", "chatbot-jailbreak").code == 0
    snapshot = _snapshot(cli)
    sent_before = len(api_requests(sim))
    result = run("apply", "--auto-approve", env=env)
    assert result.code == 1, result.all
    assert expected in result.err
    assert "Traceback" not in result.all
    # State content is unchanged (a failed trigger records nothing).
    after = json.loads(cli.state_path.read_text())
    assert after["runs"] == json.loads(snapshot or b"{}")["runs"]
    if env.get("SPLX_API_KEY") is None:
        assert len(api_requests(sim)) == sent_before  # nothing was sent
        assert _snapshot(cli) == snapshot
    for value in (API_KEY, LIMITED_KEY, "wrong-key-123456"):
        assert value not in result.all


def test_400_lists_the_servers_validation_errors(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    # The simulator refuses a blank name, which the spec format cannot know about.
    cli.write_spec(
        "runs.yaml",
        "workspaceId: 1234\ntestRuns:\n  blank:\n"
        "    targetId: 1\n    probeIds: [1]\n    name: '   '\n",
    )
    result = run("apply", "--auto-approve")
    assert result.code == 1
    assert "400" in result.all
    assert "name" in result.all
    assert json.loads(cli.state_path.read_text())["runs"] == {}


def test_bad_spec_sends_nothing(cli: Cli, run: Runner, sim: SimulatorServer) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS.replace("targetId: 42", "targetId: true"))
    result = run("apply", "--auto-approve")
    assert result.code == 1
    assert "runs.yaml:6" in result.err
    assert "targetId" in result.err
    assert api_requests(sim) == []
    assert not cli.state_path.exists()


def test_apply_without_terminal_and_without_auto_approve_refuses(
    cli: Cli, sim: SimulatorServer
) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    result = cli.proc("apply")
    assert result.code == 1
    assert "--auto-approve" in result.err
    assert api_requests(sim) == []


def test_real_process_apply_then_empty_plan(cli: Cli, sim: SimulatorServer) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    assert cli.proc("validate").code == 0
    assert cli.proc("plan", "--detailed-exitcode").code == 2
    applied = cli.proc("apply", "--auto-approve")
    assert applied.code == 0, applied.all
    assert "Apply complete!" in applied.out
    assert len(sim.runs()) == 2
    again = cli.proc("plan", "--detailed-exitcode")
    assert again.code == 0, again.all


def test_saved_plan_applies_and_goes_stale(
    cli: Cli, run: Runner, sim: SimulatorServer, tmp_path: Path
) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    plan_file = str(tmp_path / "p.plan")
    assert run("plan", "--out", plan_file).code == 0
    assert API_KEY not in Path(plan_file).read_text()
    assert run("apply", "--plan", plan_file).code == 0
    assert len(sim.runs()) == 2
    # The state moved since: the same plan is now stale.
    stale = run("apply", "--plan", plan_file)
    assert stale.code == 1
    assert "plan --out" in stale.err
    assert len(sim.runs()) == 2


def test_state_commands_and_import(cli: Cli, run: Runner, sim: SimulatorServer) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    assert run("apply", "--auto-approve").code == 0
    listed = run("state", "list")
    assert "chatbot-jailbreak" in listed.out and "support-bot-injection" in listed.out
    shown = run("state", "show", "chatbot-jailbreak", "--json")
    assert json.loads(shown.out)["attributes"]["targetId"] == 42
    run_id = cli.state()["runs"]["chatbot-jailbreak"]["testRunId"]
    assert run("state", "rm", "chatbot-jailbreak").code == 0
    assert "chatbot-jailbreak" not in cli.state()["runs"]
    assert run("plan", "--detailed-exitcode").code == 2
    imported = run("import", "chatbot-jailbreak", str(run_id))
    assert imported.code == 0, imported.all
    assert cli.state()["runs"]["chatbot-jailbreak"]["testRunId"] == run_id
    assert run("plan", "--detailed-exitcode").code == 0
    missing = run("import", "not-in-specs", "5")
    assert missing.code == 1
    assert "not-in-specs" in missing.err


def test_destroy_cancels_everything(cli: Cli, run: Runner, sim: SimulatorServer) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    assert run("apply", "--auto-approve").code == 0
    result = run("destroy", "--auto-approve")
    assert result.code == 0, result.all
    assert cli.state()["runs"] == {}
    assert all(r["status"] == "Canceled" for r in sim.runs())


def test_saved_plan_remembers_the_spec_paths_it_was_made_from(
    cli: Cli, run: Runner, sim: SimulatorServer, tmp_path: Path
) -> None:
    cli.write_spec("team/runs.yaml", SPEC_TWO_RUNS)
    plan_file = str(tmp_path / "p.plan")
    assert run("plan", "specs/team", "--out", plan_file).code == 0
    # No PATH here: apply must check the plan against specs/team, not the default specs/.
    applied = run("apply", "--plan", plan_file)
    assert applied.code == 0, applied.all
    assert len(sim.runs()) == 2


def test_a_plan_of_moves_alone_needs_no_api_key(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    assert run("apply", "--auto-approve").code == 0
    renamed = SPEC_TWO_RUNS.replace("chatbot-jailbreak:", "chatbot-jailbreak-v2:")
    cli.write_spec(
        "runs.yaml", renamed + "moved:\n  - from: chatbot-jailbreak\n    to: chatbot-jailbreak-v2\n"
    )
    result = run("apply", "--auto-approve", env={"SPLX_API_KEY": None})
    assert result.code == 0, result.all
    assert "chatbot-jailbreak-v2" in cli.state()["runs"]
    assert len(sim.runs()) == 2


def cli_state(path: str) -> dict[str, Any]:
    return json.loads(Path(path).read_text())  # type: ignore[no-any-return]


def test_next_steps_repeat_the_state_and_paths_given_on_the_command_line(
    cli: Cli, run: Runner, sim: SimulatorServer, tmp_path: Path
) -> None:
    cli.write_spec("team/runs.yaml", SPEC_TWO_RUNS)
    elsewhere = str(tmp_path / "elsewhere.json")
    sim.set_faults(drop_after_trigger_rate=1.0)  # every trigger's answer is lost: unknown
    applied = run("apply", "specs/team", "--state", elsewhere, "--auto-approve")
    assert applied.code == 1
    assert f"reconciler import KEY TEST_RUN_ID specs/team --state {elsewhere}" in applied.err
    planned = run("plan", "specs/team", "--state", elsewhere)
    assert f"reconciler state rm chatbot-jailbreak --state {elsewhere}" in planned.out
    assert (
        f"reconciler import chatbot-jailbreak TEST_RUN_ID specs/team --state {elsewhere}"
    ) in planned.out
    # The state keeps what happened, not advice that would go stale.
    notes = [entry["note"] for entry in cli_state(elsewhere)["runs"].values()]
    assert notes and all("reconciler" not in note for note in notes)
    assert (
        "reconciler apply specs/team --retrigger-unknown --target chatbot-jailbreak "
        f"--state {elsewhere}"
    ) in planned.out


def test_a_missing_key_fails_before_the_plan_is_shown(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    result = run("apply", "--auto-approve", env={"SPLX_API_KEY": None})
    assert result.code == 1
    assert "SPLX_API_KEY is not set" in result.err
    assert "will perform" not in result.out
    assert api_requests(sim) == []


def test_a_stale_saved_plan_names_the_plan_command_to_run_again(
    cli: Cli, run: Runner, sim: SimulatorServer, tmp_path: Path
) -> None:
    cli.write_spec("team/runs.yaml", SPEC_TWO_RUNS)
    elsewhere = str(tmp_path / "elsewhere.json")
    plan_file = str(tmp_path / "p.plan")
    assert run("plan", "specs/team", "--state", elsewhere, "--out", plan_file).code == 0
    assert run("apply", "specs/team", "--state", elsewhere, "--auto-approve").code == 0
    stale = run("apply", "--plan", plan_file, "--state", elsewhere)
    assert stale.code == 1
    assert f"reconciler plan specs/team --state {elsewhere} --out {plan_file}" in stale.err


def test_destroy_with_force_and_no_specs_warns_that_protect_is_unchecked(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    assert run("apply", "--auto-approve").code == 0
    (cli.root / "specs" / "runs.yaml").unlink()
    result = run("destroy", "--auto-approve", "--force")
    assert result.code == 0, result.all
    assert "protect: true` marks cannot be checked" in result.err


def test_a_saved_plan_refuses_another_state(
    cli: Cli, run: Runner, sim: SimulatorServer, tmp_path: Path
) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    plan_file = str(tmp_path / "p.plan")
    first, other = str(tmp_path / "first.json"), str(tmp_path / "other.json")
    assert run("plan", "--state", first, "--out", plan_file).code == 0
    # Neither state exists yet, so lineage cannot tell them apart: the recorded state does.
    refused = run("apply", "--plan", plan_file, "--state", other)
    assert refused.code == 1
    assert f"was made for the state at {Path(first).resolve()}" in refused.err
    assert api_requests(sim) == []
    assert run("apply", "--plan", plan_file, "--state", first).code == 0


def test_probe_ids_null_is_sent_as_null_shown_as_the_targets_probes_and_replaced_by_a_list(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    spec = "workspaceId: 1234\ntestRuns:\n  platform:\n    targetId: 42\n    probeIds: null\n"
    cli.write_spec("runs.yaml", spec)
    planned = run("plan")
    assert "probeIds           = null (the target's configured probes)" in planned.out
    assert run("apply", "--auto-approve").code == 0
    (trigger,) = api_requests(sim)
    assert json.loads(trigger.body)["probeIds"] is None
    (created,) = sim.runs()
    assert created["probeIds"] is None
    assert created["total"] > 0  # the simulator ran its stand-in for the target's probes
    state = cli.state()
    assert state["runs"]["platform"]["attributes"]["probeIds"] is None
    shown = run("state", "show", "platform")
    assert "probeIds           = null (the target's configured probes)" in shown.out
    assert run("plan", "--detailed-exitcode").code == 0  # null is stable in state
    cli.write_spec("runs.yaml", spec.replace("null", "[]"))
    replaced = run("plan", "--detailed-exitcode")
    assert replaced.code == 2, replaced.all
    assert "~ probeIds: null (the target's configured probes) → []" in replaced.out
