"""Runs the plan knows have ended, against the simulator: a replace of one sends no cancel,
only the trigger; a cancel of one (a key removed, or `destroy`) sends nothing and retires its
result; `destroy` refreshes like plan and apply; a kill during a trigger-only replace loses no
run id and triggers nothing twice."""

from __future__ import annotations

import json
import signal

from reconciler.simulator.server import SimulatorServer
from reconciler.state.local import LocalStateStore
from tests.e2e.conftest import Cli, Runner, api_changes
from tests.e2e.harness import (
    INJECTION,
    JAILBREAK,
    RERUN_SPEC,
    SPEC_TWO_RUNS,
    age_runs,
    applied,
    many_runs_spec,
    runs_by_key,
    settle,
    status_reads,
)
from tests.polling import wait_until


def cancels(sim: SimulatorServer) -> list[str]:
    """Paths of the cancel requests the simulator received, oldest first."""
    return [r.path for r in api_changes(sim) if r.path.endswith("/cancel")]


def finish(sim: SimulatorServer, test_run_id: int, *, failed: int = 0) -> None:
    sim.set_outcome(test_run_id=test_run_id, status="Finished", failed=failed, finish_after=0)


def history(cli: Cli, key: str) -> list[tuple[int, str]]:
    entry = cli.state()["runs"][key]  # type: ignore[index]
    return [(h["testRunId"], h["status"]) for h in entry.get("history", [])]


# --- replace of an ended run: the trigger only ----------------------------------------------


def test_a_due_run_is_replaced_by_a_trigger_alone(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    ids = applied(cli, run, RERUN_SPEC)
    finish(sim, ids[JAILBREAK], failed=1)
    age_runs(cli, 8)
    plan = run("plan")
    assert f"test run {ids[JAILBREAK]} has ended (Finished): nothing to cancel" in plan.out
    done = run("apply", "--auto-approve")
    assert done.code == 0, done.all
    assert cancels(sim) == []  # the plan said nothing to cancel, and nothing was sent
    assert "1 replaced" in done.out and "nothing left to cancel" not in done.all
    entry = cli.state()["runs"][JAILBREAK]  # type: ignore[index]
    assert entry["testRunId"] not in ids.values()
    assert history(cli, JAILBREAK) == [(ids[JAILBREAK], "Finished")]
    assert sim.trigger_count() == 3
    assert run("plan", "--detailed-exitcode").code == 0


def test_a_finished_run_whose_spec_changed_is_replaced_without_a_cancel_and_a_running_one_with(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    ids = applied(cli, run)
    finish(sim, ids[JAILBREAK])
    cli.write_spec(
        "runs.yaml", SPEC_TWO_RUNS.replace("targetId: 42", "targetId: 44").replace("43", "45")
    )
    done = run("apply", "--auto-approve")
    assert done.code == 0, done.all
    assert "2 replaced" in done.out
    # Only the run still going was cancelled; the finished one was left as it is.
    assert cancels(sim) == [f"/api/workspaces/1234/test-run/{ids[INJECTION]}/cancel"]
    assert history(cli, JAILBREAK) == [(ids[JAILBREAK], "Finished")]
    assert history(cli, INJECTION) == []  # cancelled while running: no final result
    statuses = {r["testRunId"]: r["status"] for r in sim.runs()}
    assert statuses[ids[JAILBREAK]] == "Finished" and statuses[ids[INJECTION]] == "Canceled"


def test_a_saved_plan_replaces_an_ended_run_as_reviewed_without_a_cancel(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    ids = applied(cli, run, RERUN_SPEC)
    finish(sim, ids[INJECTION], failed=2)
    age_runs(cli, 8)
    saved = cli.root / "reviewed.plan"
    assert run("plan", "--out", str(saved)).code == 0
    reads = status_reads(sim)
    done = run("apply", "--plan", str(saved))
    assert done.code == 0, done.all
    assert status_reads(sim) == reads  # decided from the plan, not by reading again
    assert cancels(sim) == []
    assert history(cli, INJECTION) == [(ids[INJECTION], "Finished")]


def test_without_a_refresh_an_ended_run_not_known_to_have_ended_is_still_cancelled(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    # The plan does not know it ended, so it says "is cancelled" and apply does so: the API
    # answers that there is nothing left to cancel, which is fine.
    ids = applied(cli, run)
    finish(sim, ids[JAILBREAK])
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS.replace("targetId: 42", "targetId: 44"))
    plan = run("plan", "--refresh=false")
    assert f"test run {ids[JAILBREAK]} is cancelled, then a new run triggered" in plan.out
    done = run("apply", "--auto-approve", "--refresh=false")
    assert done.code == 0, done.all
    assert cancels(sim) == [f"/api/workspaces/1234/test-run/{ids[JAILBREAK]}/cancel"]


def test_a_kill_during_the_trigger_of_a_trigger_only_replace_loses_nothing(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    ids = applied(cli, run, many_runs_spec(1))
    old = ids["run-000"]
    finish(sim, old, failed=1)
    assert run("status").code == 0  # records the final result: the apply reads nothing
    cli.write_spec("runs.yaml", many_runs_spec(1, target=43))
    sim.hold()
    proc = cli.popen("apply", "--auto-approve")
    wait_until(lambda: len(sim.held()) >= 1, message="the apply never reached the simulator")
    assert [path for path, _ in sim.held()] == ["/api/workspaces/1234/test-run/trigger"]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    sim.release()
    settle(sim)

    # The journal the kill left: the trigger's intent, and no cancel before it.
    journal = LocalStateStore(cli.state_path).journal_path
    ops = [r["op"] for r in map(json.loads, journal.read_text().splitlines()) if "op" in r]
    assert ops == ["trigger-intent"]
    assert cancels(sim) == []
    # The server created the run for the dead client: the key is an unknown outcome that
    # still carries the old run's id and result.
    listed = run("state", "list")
    assert "run-000\tunknown\tunknown" in listed.out
    state = LocalStateStore(cli.state_path).read()
    entry = state.runs["run-000"]
    assert entry.status == "unknown"
    assert [(h.test_run_id, h.status) for h in entry.history] == [(old, "Finished")]

    again = run("apply", "--auto-approve")
    assert again.code == 1, again.all  # left for the user: nothing triggered twice
    assert sim.trigger_count() == 2 and cancels(sim) == []
    (new,) = [r["testRunId"] for r in runs_by_key(sim)["run-000"] if r["testRunId"] != old]
    assert run("import", "run-000", str(new)).code == 0
    assert run("plan", "--detailed-exitcode").code == 0
    assert history(cli, "run-000") == [(old, "Finished")]


# --- cancels of ended runs, and destroy's refresh -------------------------------------------


def test_a_removed_key_whose_run_ended_leaves_the_state_without_a_cancel(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    ids = applied(cli, run)
    finish(sim, ids[JAILBREAK], failed=3)
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS.split(f"  {JAILBREAK}:")[0] + _injection_only())
    plan = run("plan")
    assert f"test run {ids[JAILBREAK]} has ended (Finished): nothing to cancel" in plan.out
    done = run("apply", "--auto-approve")
    assert done.code == 0, done.all
    assert cancels(sim) == []
    assert "0 cancelled, 1 already ended" in done.out
    state = cli.state()
    assert set(state["runs"]) == {INJECTION}  # type: ignore[call-overload]
    assert [r["testRunId"] for r in state["retired"][JAILBREAK]] == [ids[JAILBREAK]]  # type: ignore[index]


def _injection_only() -> str:
    return "  support-bot-injection:\n    targetId: 43\n    probeIds: [103]\n"


def test_destroy_refreshes_and_sends_no_cancel_to_an_ended_run(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    ids = applied(cli, run)
    finish(sim, ids[JAILBREAK], failed=2)
    reads = status_reads(sim)
    done = run("destroy", "--auto-approve")
    assert done.code == 0, done.all
    assert status_reads(sim) == reads + 2  # both runs were read first
    assert f"test run {ids[JAILBREAK]} has ended (Finished): nothing to cancel" in done.out
    assert "Destroy complete! 0 triggered, 0 replaced, 1 cancelled, 1 already ended" in done.out
    assert cancels(sim) == [f"/api/workspaces/1234/test-run/{ids[INJECTION]}/cancel"]
    state = cli.state()
    assert state["runs"] == {}
    # The final result was recorded before the run left: it is kept for the key.
    (retired,) = state["retired"][JAILBREAK]  # type: ignore[index]
    assert retired["testRunId"] == ids[JAILBREAK] and retired["status"] == "Finished"
    assert INJECTION not in state["retired"]  # type: ignore[operator]
    # The key comes back: its new run inherits what the destroyed one found.
    again = applied(cli, run)
    assert history(cli, JAILBREAK) == [(ids[JAILBREAK], "Finished")]
    assert again[JAILBREAK] not in ids.values()


def test_destroy_of_a_run_cancelled_in_the_ui_sends_nothing_for_it(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    ids = applied(cli, run)
    sim.cancel_from_ui(ids[JAILBREAK])
    assert sim.delete_run(ids[INJECTION])
    done = run("destroy", "--auto-approve")
    assert done.code == 0, done.all
    assert "0 cancelled, 2 already ended" in done.out
    assert cancels(sim) == []
    assert f"test run {ids[INJECTION]} no longer exists: nothing to cancel" in done.out
    state = cli.state()
    assert state["runs"] == {}
    assert [r["status"] for r in state["retired"][JAILBREAK]] == ["Canceled"]  # type: ignore[index]


def test_destroy_with_refresh_false_reads_nothing_and_cancels_everything(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    ids = applied(cli, run)
    finish(sim, ids[JAILBREAK])
    reads = status_reads(sim)
    done = run("destroy", "--auto-approve", "--refresh=false")
    assert done.code == 0, done.all
    assert status_reads(sim) == reads
    assert len(cancels(sim)) == 2  # the plan did not know: the API says nothing left to cancel
    assert "1 cancelled, 1 already ended" in done.out
    assert cli.state()["runs"] == {}


def test_destroy_without_a_key_skips_the_refresh_as_apply_does(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    applied(cli, run)
    before = cli.state_path.read_text()
    requests = len(sim.requests())
    refused = run("destroy", "--auto-approve", env={"SPLX_API_KEY": None})
    assert refused.code == 1
    assert "SPLX_API_KEY is not set, so the status of 2 tracked runs was not read" in refused.err
    assert "Error: SPLX_API_KEY is not set" in refused.err
    assert len(sim.requests()) == requests
    assert cli.state_path.read_text() == before


def test_destroy_needs_no_key_when_every_run_is_known_to_have_ended(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    ids = applied(cli, run)
    finish(sim, ids[JAILBREAK])
    finish(sim, ids[INJECTION], failed=1)
    assert run("status").code == 0  # records both final results in state
    requests = len(sim.requests())
    done = run("destroy", "--auto-approve", env={"SPLX_API_KEY": None})
    assert done.code == 0, done.all
    assert "0 cancelled, 2 already ended" in done.out
    assert len(sim.requests()) == requests  # nothing sent, nothing needed the key
    state = cli.state()
    assert state["runs"] == {}
    assert set(state["retired"]) == {JAILBREAK, INJECTION}  # type: ignore[arg-type]


def test_apply_retires_an_ended_removed_key_without_a_key(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    ids = applied(cli, run)
    finish(sim, ids[JAILBREAK], failed=3)
    assert run("status").code == 0
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS.split(f"  {JAILBREAK}:")[0] + _injection_only())
    requests = len(sim.requests())
    plan = run("plan", "--format", "json", env={"SPLX_API_KEY": None})
    (cancel,) = [c for c in json.loads(plan.out)["runs"] if c["action"] == "cancel"]
    line = f"test run {ids[JAILBREAK]} has ended (Finished): nothing to cancel, it leaves the state"
    assert cancel["nothing_to_cancel"] == line
    markdown = run("plan", "--format", "markdown", env={"SPLX_API_KEY": None})
    assert line in markdown.out
    done = run("apply", "--auto-approve", env={"SPLX_API_KEY": None})
    assert done.code == 0, done.all
    # The running run could not be read without the key: said, and left as it is.
    assert "status of 1 tracked run was not read" in done.err
    assert "0 cancelled, 1 already ended" in done.out
    assert len(sim.requests()) == requests
    assert set(cli.state()["runs"]) == {INJECTION}  # type: ignore[call-overload]


def test_destroy_help_lists_the_refresh_options(run: Runner) -> None:
    shown = run("destroy", "--help")
    assert shown.code == 0
    assert "--refresh" in shown.out and "--no-refresh" in shown.out
