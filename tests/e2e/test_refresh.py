"""Refresh in plan and apply, and rerunAfter, against the simulator: a run cancelled in its
"web UI", one deleted (404), one ended in Error, partial failures, no key, --refresh=false,
saved plans, and a finished run come due. Both spellings of statuses."""

from __future__ import annotations

import json
from collections.abc import Iterator

import jsonschema
import pytest

from reconciler.simulator.config import KeyGrant, SimulatorConfig
from reconciler.simulator.server import SimulatorServer
from tests.cli.test_plan_cmd import plan_schema
from tests.e2e.conftest import API_KEY, Cli, Runner
from tests.e2e.harness import (
    INJECTION,
    JAILBREAK,
    RERUN_SPEC,
    SPEC_TWO_RUNS,
    age_runs,
    applied,
    status_reads,
)


@pytest.fixture(params=["product", "upper"])
def sim(request: pytest.FixtureRequest) -> Iterator[SimulatorServer]:
    """The e2e simulator, in the product's spelling of statuses and in upper case."""
    config = SimulatorConfig(
        keys={API_KEY: KeyGrant(label="e2e")},
        start_after=0.0,
        status_case=request.param,
        seed=7,
    )
    with SimulatorServer(config) as server:
        yield server


def test_a_run_cancelled_in_the_ui_is_triggered_again_with_the_reason(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    ids = applied(cli, run)
    sim.cancel_from_ui(ids[JAILBREAK])
    text = run("plan", "--detailed-exitcode")
    assert text.code == 2, text.all
    assert f"# {JAILBREAK} will be triggered (cancelled outside reconciler)" in text.out
    assert "has ended (Canceled): nothing to cancel" in text.out
    assert INJECTION not in text.out  # still running: a no-op
    document = json.loads(run("plan", "--format", "json").out)
    jsonschema.validate(document, plan_schema())
    assert document["options"]["refresh"] is True
    by_key = {r["key"]: r for r in document["runs"]}
    assert by_key[JAILBREAK]["reason"] == "cancelled outside reconciler"
    assert by_key[JAILBREAK]["refreshed"]["status"] == "Canceled"
    assert by_key[INJECTION]["refreshed"]["ended"] is False
    markdown = run("plan", "--format", "markdown").out
    assert f"| 🟢 | trigger | `{JAILBREAK}` | cancelled outside reconciler |" in markdown
    assert not cli.state()["runs"][JAILBREAK].get("result")  # plan records nothing

    again = run("apply", "--auto-approve")
    assert again.code == 0, again.all
    entry = cli.state()["runs"][JAILBREAK]
    assert entry["testRunId"] not in ids.values()
    # apply recorded the final result it learned; the new run inherits it as history.
    assert [h["status"] for h in entry["history"]] == ["Canceled"]
    assert sim.trigger_count() == 3  # only the cancelled one was triggered again
    assert run("plan", "--detailed-exitcode").code == 0


def test_a_deleted_run_and_a_run_ended_in_error(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    ids = applied(cli, run)
    assert sim.delete_run(ids[JAILBREAK])
    sim.set_outcome(test_run_id=ids[INJECTION], status="Error", finish_after=0)
    plan = run("plan", "--detailed-exitcode")
    assert plan.code == 2, plan.all
    assert f"# {JAILBREAK} will be triggered (no longer exists on the platform)" in plan.out
    assert f"# {INJECTION} will be triggered (ended in error)" in plan.out
    assert "Plan: 2 to trigger, 0 to replace, 0 to cancel." in plan.out


def test_runs_that_cannot_be_read_are_named_and_the_rest_still_planned(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    spec = "workspaceId: 1234\ntestRuns:\n" + "".join(
        f"  r{i}:\n    targetId: 42\n    probeIds: [1]\n" for i in range(8)
    )
    ids = applied(cli, run, spec)
    for run_id in ids.values():
        sim.cancel_from_ui(run_id)
    sim.set_faults(error_rate=0.5)
    plan = run("plan", "--format", "json", "--parallelism", "1", "--max-attempts", "1")
    assert plan.code == 0, plan.all
    runs = {r["key"]: r for r in json.loads(plan.out)["runs"]}
    unreadable = {k for k, r in runs.items() if r["refreshed"]["error"]}
    triggered = {k for k, r in runs.items() if r["action"] == "trigger"}
    assert unreadable and triggered, "the seeded dice should fail some reads, not all"
    assert unreadable | triggered == set(ids) and not unreadable & triggered
    assert all(runs[k]["action"] == "no-op" for k in unreadable)
    for key in unreadable:
        assert f"status of '{key}'" in plan.err
    assert plan.err.count("planned as if not refreshed") == len(unreadable)


def test_without_a_key_plan_skips_the_refresh_with_a_note(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    ids = applied(cli, run)
    sim.cancel_from_ui(ids[JAILBREAK])
    before = status_reads(sim)
    offline = run("plan", "--detailed-exitcode", env={"SPLX_API_KEY": None})
    assert offline.code == 0, offline.all
    assert "SPLX_API_KEY is not set, so the status of 2 tracked runs was not read" in offline.err
    assert offline.err.count("\n") == 1  # one line
    assert status_reads(sim) == before
    saved = cli.root / "offline.plan"
    assert run("plan", "--out", str(saved), env={"SPLX_API_KEY": None}).code == 0
    assert json.loads(saved.read_text())["plan"]["options"]["refresh"] is False
    # apply needs the key anyway once it has something to send; nothing is sent without it.
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS.replace("targetId: 43", "targetId: 44"))
    requests = len(sim.requests())
    refused = run("apply", "--auto-approve", env={"SPLX_API_KEY": None})
    assert refused.code == 1 and "Error: SPLX_API_KEY is not set" in refused.err
    assert len(sim.requests()) == requests


@pytest.mark.parametrize("flag", [["--refresh=false"], ["--refresh", "false"], ["--no-refresh"]])
def test_refresh_false_sends_no_request(
    cli: Cli, run: Runner, sim: SimulatorServer, flag: list[str]
) -> None:
    ids = applied(cli, run)
    sim.cancel_from_ui(ids[JAILBREAK])
    before = len(sim.requests())
    plan = run("plan", "--detailed-exitcode", *flag)
    assert plan.code == 0, plan.all
    applied_again = run("apply", "--auto-approve", *flag)
    assert applied_again.code == 0, applied_again.all
    assert len(sim.requests()) == before


def test_refresh_true_and_no_refresh_together_are_refused(cli: Cli, run: Runner) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    both = run("plan", "--refresh=true", "--no-refresh")
    assert both.code == 1 and "contradict" in both.err


def test_a_bad_key_ends_the_refresh_with_the_clients_error(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    applied(cli, run)
    bad = run("plan", env={"SPLX_API_KEY": "not-a-known-key-000"})
    assert bad.code == 1
    assert "401" in bad.err or "Unauthorized" in bad.err or "rejected" in bad.err
    assert "Traceback" not in bad.err


def test_a_saved_refreshed_plan_applies_what_was_read_without_reading_again(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    ids = applied(cli, run)
    sim.cancel_from_ui(ids[JAILBREAK])
    saved = cli.root / "reviewed.plan"
    made = run("plan", "--out", str(saved))
    assert made.code == 0, made.all
    envelope = json.loads(saved.read_text())
    assert envelope["version"] == 2
    assert envelope["plan"]["options"]["refresh"] is True
    reads = status_reads(sim)
    done = run("apply", "--plan", str(saved))
    assert done.code == 0, done.all
    assert status_reads(sim) == reads  # apply --plan does not plan (nor read) again
    entry = cli.state()["runs"][JAILBREAK]
    assert entry["testRunId"] not in ids.values()
    assert [h["status"] for h in entry["history"]] == ["Canceled"]
    refused = run("apply", "--plan", str(saved), "--refresh=false")
    assert refused.code == 1 and "--refresh" in refused.err


def test_a_finished_run_comes_due_and_a_running_one_does_not(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    ids = applied(cli, run, RERUN_SPEC)
    sim.set_outcome(test_run_id=ids[JAILBREAK], status="Finished", failed=1, finish_after=0)
    age_runs(cli, 3)
    assert run("plan", "--detailed-exitcode").code == 0  # finished, but only 3d old
    age_runs(cli, 8)
    plan = run("plan", "--detailed-exitcode")
    assert plan.code == 2, plan.all
    assert f"# {JAILBREAK} must be replaced (due: triggered 8d ago, rerunAfter 7d)" in plan.out
    assert INJECTION not in plan.out  # still running: never due
    done = run("apply", "--auto-approve")
    assert done.code == 0, done.all
    entry = cli.state()["runs"][JAILBREAK]
    assert entry["testRunId"] not in ids.values()
    assert [h["status"] for h in entry["history"]] == ["Finished"]
    # Editing rerunAfter alone re-triggers nothing.
    cli.write_spec("runs.yaml", RERUN_SPEC.replace("rerunAfter: 7d", "rerunAfter: 1d"))
    assert run("plan", "--detailed-exitcode").code == 0


def test_rerun_after_from_reconciler_yaml_and_bad_values(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    ids = applied(cli, run)
    sim.set_outcome(test_run_id=ids[INJECTION], status="Finished", finish_after=0)
    age_runs(cli, 2)
    (cli.root / "reconciler.yaml").write_text("rerunAfter: 1d\n")
    plan = run("plan", "--detailed-exitcode")
    assert plan.code == 2, plan.all
    assert f"# {INJECTION} must be replaced (due: triggered 2d ago, rerunAfter 1d)" in plan.out
    (cli.root / "reconciler.yaml").write_text("rerunAfter: daily\n")
    bad = run("plan")
    assert bad.code == 1
    assert "reconciler.yaml:1: rerunAfter: expected a duration such as 7d" in bad.err
    assert "hint:" in bad.err


def test_a_plan_that_reads_nothing_imports_no_http_stack(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    # --refresh=false must stay as fast as plan was before refresh existed: no httpx.
    import subprocess
    import sys

    applied(cli, run)
    probe = (
        "import sys\n"
        "from reconciler.cli import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit as exit:\n"
        "    assert exit.code == 0, exit.code\n"
        "print(sorted({'httpx', 'httpcore'} & set(sys.modules)), file=sys.stderr)\n"
    )

    def imported(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", probe, "plan", *args],
            capture_output=True,
            text=True,
            check=False,
            cwd=cli.root,
            env=cli.proc_env(),
        )
        assert done.returncode == 0, done.stderr
        return done.stderr.strip().splitlines()[-1]

    assert imported("--refresh=false") == "[]"
    assert imported("--no-refresh") == "[]"
    assert imported() == "['httpcore', 'httpx']"  # two runs still going: read


def test_apply_records_finished_results_and_they_are_never_read_again(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    ids = applied(cli, run)
    sim.set_outcome(test_run_id=ids[JAILBREAK], status="Finished", failed=2, finish_after=0)
    assert run("plan", "--detailed-exitcode").code == 0  # Finished: a no-op
    serial = cli.state()["serial"]
    done = run("apply", "--auto-approve")
    assert done.code == 0, done.all
    state = cli.state()
    assert state["serial"] == serial + 1  # the result, and nothing else, was recorded
    result = state["runs"][JAILBREAK]["result"]
    assert result["status"] == "Finished"
    assert sum(p["counts"]["failed"] for p in result["probeRuns"]) == 2
    reads = [r.path for r in sim.requests() if r.method == "GET"]
    assert run("plan", "--target", JAILBREAK, "--target", INJECTION).code == 0
    new_reads = [r.path for r in sim.requests() if r.method == "GET"][len(reads) :]
    assert new_reads == [f"/api/v2/test-run/{ids[INJECTION]}/status"]
