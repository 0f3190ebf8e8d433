"""``plan`` and ``apply`` through the CLI: formats, exit codes, saved plans, --target,
--replace, and how unknown outcomes are shown."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from reconciler.simulator.config import KeyGrant, SimulatorConfig
from reconciler.simulator.server import SimulatorServer
from tests.e2e.conftest import API_KEY, SPEC_TWO_RUNS, Cli, Result, Runner

GOLDEN = Path(__file__).parents[1] / "data" / "cli"
UPDATE = os.environ.get("RECONCILER_UPDATE_GOLDEN") == "1"
CHANGED = SPEC_TWO_RUNS.replace("targetId: 43", "targetId: 44")


def plan_schema() -> dict[str, Any]:
    text = resources.files("reconciler").joinpath("schemas/plan.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def run_ids(cli: Cli) -> dict[str, int]:
    runs: dict[str, Any] = cli.state()["runs"]  # type: ignore[assignment]
    return {key: entry["testRunId"] for key, entry in runs.items()}


def sim_status(sim: SimulatorServer) -> dict[int, str]:
    return {r["testRunId"]: r["status"] for r in sim.runs()}


def test_detailed_exitcode_is_0_without_changes_2_with_changes_1_on_error(
    cli: Cli, run: Runner
) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    assert run("plan", "--detailed-exitcode").code == 2
    assert run("plan").code == 0  # changes without the flag: plain success
    assert run("apply", "--auto-approve").code == 0
    assert run("plan", "--detailed-exitcode").code == 0
    cli.write_spec("runs.yaml", "testRuns: [")
    broken = run("plan", "--detailed-exitcode")
    assert broken.code == 1
    assert "runs.yaml" in broken.err


def test_json_plan_from_the_cli_is_valid_against_the_shipped_schema(cli: Cli, run: Runner) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    first = run("plan", "--format", "json")
    assert first.code == 0, first.all
    document = json.loads(first.out)
    jsonschema.validate(document, plan_schema())
    assert document["format_version"].startswith("1.")
    assert [r["actions"] for r in document["runs"]] == [["create"], ["create"]]

    assert run("apply", "--auto-approve").code == 0
    cli.write_spec("runs.yaml", CHANGED.replace("  chatbot-jailbreak:", "  renamed-key:"))
    second = run("plan", "--format", "json", "--detailed-exitcode")
    assert second.code == 2
    document = json.loads(second.out)
    jsonschema.validate(document, plan_schema())
    by_key = {r["key"]: r for r in document["runs"]}
    assert by_key["chatbot-jailbreak"]["actions"] == ["delete"]
    assert by_key["renamed-key"]["actions"] == ["create"]
    replaced = by_key["support-bot-injection"]
    assert replaced["actions"] == ["delete", "create"]
    assert replaced["before"]["attributes"]["targetId"] == 43
    assert replaced["after"]["targetId"] == 44
    assert "targetId" in json.dumps(replaced["changed_fields"])
    assert document["summary"]["replace"] == 1
    assert API_KEY not in second.out


def test_markdown_plan_is_a_ready_pull_request_comment(cli: Cli, run: Runner) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    result = run("plan", "--format", "markdown")
    assert result.code == 0
    md = result.out
    assert "**Plan: 2 to trigger, 0 to replace, 0 to cancel.**" in md
    assert "| --- |" in md
    assert md.count("<details>") == 2
    assert "```diff" in md
    assert "\x1b[" not in md


def test_saved_plan_is_applied_as_reviewed(cli: Cli, run: Runner, sim: SimulatorServer) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    saved = run("plan", "--out", "reviewed.plan")
    assert "reconciler apply --plan reviewed.plan" in saved.out
    applied = run("apply", "--plan", "reviewed.plan")
    assert applied.code == 0, applied.all
    assert "Apply complete! 2 triggered" in applied.out
    assert len(sim.runs()) == 2


def test_json_format_with_out_saves_the_plan_too(cli: Cli, run: Runner) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    result = run("plan", "--format", "json", "--out", "p.plan")
    assert result.code == 0
    json.loads(result.out)  # stdout stays pure JSON
    assert (cli.root / "p.plan").exists()


def test_target_plans_and_applies_only_that_key(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    planned = run("plan", "--target", "chatbot-jailbreak")
    assert "Plan: 1 to trigger" in planned.out
    assert "--target" in planned.out
    applied = run("apply", "--target", "chatbot-jailbreak", "--auto-approve")
    assert applied.code == 0, applied.all
    assert set(run_ids(cli)) == {"chatbot-jailbreak"}
    assert len(sim.runs()) == 1
    unknown = run("plan", "--target", "no-such-key")
    assert unknown.code == 1
    assert "no-such-key" in unknown.err


def test_replace_re_runs_an_unchanged_run(cli: Cli, run: Runner, sim: SimulatorServer) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    assert run("apply", "--auto-approve").code == 0
    old = run_ids(cli)
    planned = run("plan", "--replace", "chatbot-jailbreak", "--detailed-exitcode")
    assert planned.code == 2
    assert "-/+ chatbot-jailbreak" in planned.out
    assert "replace requested" in planned.out
    applied = run("apply", "--replace", "chatbot-jailbreak", "--auto-approve")
    assert applied.code == 0, applied.all
    new = run_ids(cli)
    assert new["chatbot-jailbreak"] != old["chatbot-jailbreak"]
    assert new["support-bot-injection"] == old["support-bot-injection"]
    status = sim_status(sim)
    assert status[old["chatbot-jailbreak"]] == "Canceled"
    assert status[new["chatbot-jailbreak"]] != "Canceled"


def test_apply_prints_plan_then_progress_then_summary(cli: Cli, run: Runner) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    result = run("apply", "--auto-approve")
    plan_at = result.out.index("Plan: 2 to trigger")
    summary_at = result.out.index("Apply complete! 2 triggered, 0 replaced, 0 cancelled")
    assert plan_at < summary_at
    # No terminal here: one timestamped line per operation on stderr.
    lines = [line for line in result.err.splitlines() if "triggered (testRunId" in line]
    assert len(lines) == 2
    assert all(line[:8].count(":") == 2 for line in lines)


@pytest.fixture
def dropping_sim() -> Iterator[SimulatorServer]:
    """Creates every run, then drops the connection: each trigger's outcome is unknown."""
    config = SimulatorConfig(
        keys={API_KEY: KeyGrant(label="cli")}, start_after=0.0, drop_after_trigger_rate=1.0
    )
    with SimulatorServer(config) as server:
        yield server


def test_unknown_outcomes_are_shown_with_the_three_ways_out(
    tmp_path: Path,
    dropping_sim: SimulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli = Cli(tmp_path, dropping_sim)

    def run(*args: str) -> Result:
        return cli(*args, monkeypatch=monkeypatch, capsys=capsys)

    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    applied = run("apply", "--auto-approve", "--target", "chatbot-jailbreak")
    assert applied.code == 1
    assert "1 unknown" in applied.out
    assert "--retrigger-unknown" in applied.err
    assert len(dropping_sim.runs()) == 1  # sent once, never retried

    planned = run("plan", "--detailed-exitcode")
    assert planned.code == 2
    out = planned.out
    assert "! Unknown outcomes: 1 key needs your decision" in out
    assert "reconciler import chatbot-jailbreak TEST_RUN_ID" in out
    assert "reconciler state rm chatbot-jailbreak" in out
    assert "reconciler apply --retrigger-unknown --target chatbot-jailbreak" in out
    # The decision comes before the summary line, where a reviewer reads last.
    assert out.index("Unknown outcomes") < out.index("Plan: ")


def test_cli_plan_stdout_matches_golden(cli: Cli, run: Runner) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    result = run("plan", "--no-color")
    assert result.code == 0
    path = GOLDEN / "plan-two-runs.txt"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(result.out, encoding="utf-8")
    assert result.out == path.read_text(encoding="utf-8"), f"{path} differs"
