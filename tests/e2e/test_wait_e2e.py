"""``wait``, ``apply --wait`` and the gates, end to end against the simulator.

The simulator's clock runs 600 times as fast as real time, so a run that takes a simulated
minute ends in 0.1 s; the CLI polls every 50 ms. Nothing here sleeps for a fixed time: tests
wait on what the state or the simulator shows, with generous ceilings.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import junitparser
import pytest

from reconciler.simulator.config import KeyGrant, SimulatorConfig
from reconciler.simulator.server import SimulatorServer
from tests.e2e.conftest import API_KEY, Cli, Result, Runner

FAST = ("--interval", "50ms", "--timeout", "60s")

SPEC = """\
workspaceId: 1234
defaults:
  targetId: 42
  probeIds: [101, 102]
testRuns:
  leaky-bot:
    gate:
      maxFailed: ${{MAX_FAILED:-0}}
      maxFailedIncrease: 0
    revision: {revision}
  clean-bot: {{}}
"""


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    config = SimulatorConfig(
        keys={API_KEY: KeyGrant(label="e2e")},
        start_after=0.0,
        finish_after=60.0,
        time_scale=600.0,
    )
    with SimulatorServer(config) as server:
        yield server


def spec(cli: Cli, revision: int = 1) -> Path:
    return cli.write_spec("bots.yaml", SPEC.format(revision=revision))


def recorded(cli: Cli, key: str) -> dict[str, object] | None:
    if not cli.state_path.exists():
        return None
    run = cli.state()["runs"].get(key)  # type: ignore[attr-defined]
    return run.get("result") if run else None  # type: ignore[no-any-return]


def test_apply_wait_fails_the_gate_then_passes_once_relaxed_without_a_new_trigger(
    cli: Cli, run: Runner, sim: SimulatorServer, tmp_path: Path
) -> None:
    sim.set_outcome(name="leaky-bot", failed=4)
    spec(cli)
    junit = tmp_path / "reports" / "junit.xml"
    junit.parent.mkdir()
    summary = tmp_path / "summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(summary)}
    failed = run("apply", "--auto-approve", "--wait", *FAST, "--junit", str(junit), env=env)
    assert failed.code == 3, failed.all
    assert "1 of 2 runs failed its gate" in failed.out
    assert "leaky-bot: Finished" in failed.out
    assert "4 failed test cases, at most 0 allowed" in failed.out
    leaky_id = cli.state()["runs"]["leaky-bot"]["testRunId"]  # type: ignore[index]
    link = f"https://probe.splx.ai/w/1234/target/42/test-runs/{leaky_id}"
    assert link in failed.out
    # Both results were recorded as the runs ended.
    assert recorded(cli, "leaky-bot") is not None and recorded(cli, "clean-bot") is not None
    # The JUnit file is what a CI system reads.
    xml = junitparser.JUnitXml.fromfile(str(junit))
    suites = {suite.name: suite for suite in xml}
    assert set(suites) == {"leaky-bot", "clean-bot"}
    gate = next(case for case in suites["leaky-bot"] if case.name == "gate")
    assert isinstance(gate.result[0], junitparser.Failure)
    assert API_KEY not in junit.read_text()
    text = summary.read_text()
    assert text.index("1 of 2 runs failed its gate") < text.index("| run | status |")
    assert f"[run {leaky_id}]({link})" in text
    assert API_KEY not in text
    triggers = sim.trigger_count()
    assert triggers == 2
    # status gates by the same specs (exit 3) and prints the same table as the summary.
    markdown = run("status", "--format", "markdown")
    assert markdown.code == 3, markdown.all
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert table == [line for line in markdown.out.splitlines() if line.startswith("|")]

    # Relax the gate: nothing is planned, and wait passes from the recorded results.
    relaxed = {"MAX_FAILED": "10"}
    plan = run("plan", "--detailed-exitcode", env=relaxed)
    assert plan.code == 0, plan.all
    passed = run("wait", *FAST, env=relaxed)
    assert passed.code == 0, passed.all
    assert "All 2 runs passed their gates" in passed.out
    assert sim.trigger_count() == triggers


def test_a_replaced_run_is_gated_against_its_predecessor(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    relaxed = {"MAX_FAILED": "100"}
    sim.set_outcome(name="leaky-bot", failed=1)
    spec(cli, revision=1)
    first = run("apply", "--auto-approve", "--wait", *FAST, env=relaxed)
    assert first.code == 0, first.all
    # The next run of the key finds more: the revision bump replaces it.
    sim.set_outcome(name="leaky-bot", failed=3)
    spec(cli, revision=2)
    second = run("apply", "--auto-approve", "--wait", *FAST, env=relaxed)
    assert second.code == 3, second.all
    assert "2 more than the previous run" in second.out
    # Only the replaced run was waited for: clean-bot was not touched by this apply.
    assert "clean-bot" not in second.out.split("Apply complete!")[1]
    history = cli.state()["runs"]["leaky-bot"]["history"]  # type: ignore[index]
    assert [sum(p["counts"]["failed"] for p in h["probeRuns"]) for h in history] == [1]


def test_wait_times_out_with_exit_4_naming_the_runs_still_going(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    sim.set_outcome(name="leaky-bot", finish_after=10**6)
    spec(cli)
    assert run("apply", "--auto-approve").code == 0
    result = run("wait", "--interval", "50ms", "--timeout", "0.5s", "--format", "json")
    assert result.code == 4, result.all
    assert "timed out after" in result.err and "leaky-bot" in result.err
    document = json.loads(result.out)
    assert {r["key"] for r in document["runs"]} == {"leaky-bot", "clean-bot"}


def test_a_status_endpoint_failing_mid_wait_exits_1_naming_the_run(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    sim.set_outcome(name="leaky-bot", finish_after=10**6)
    spec(cli)
    assert run("apply", "--auto-approve").code == 0
    sim.set_faults(error_rate=1.0)
    result = run("wait", "--interval", "50ms", "--timeout", "1s", "--max-attempts", "1")
    assert result.code == 1, result.all
    assert "could not read the status of 2 runs" in result.err
    assert "clean-bot" in result.err and "leaky-bot" in result.err
    reads = [r for r in sim.requests() if r.path.endswith("/status")]
    assert len(reads) >= 4  # kept reading (with backoff), not one try and out


def test_junit_path_problems_fail_before_anything_is_sent(
    cli: Cli, run: Runner, sim: SimulatorServer, tmp_path: Path
) -> None:
    spec(cli)
    missing = tmp_path / "no-such-dir" / "junit.xml"
    result = run("apply", "--auto-approve", "--wait", "--junit", str(missing))
    assert result.code == 1
    assert "does not exist" in result.err and "mkdir -p" in result.err
    assert sim.trigger_count() == 0
    a_file = tmp_path / "file"
    a_file.write_text("")
    result = run("wait", "--junit", str(a_file / "junit.xml"))
    assert result.code == 1 and "is not a directory" in result.err
    assert [r for r in sim.requests() if r.path.startswith("/api/")] == []


def test_options_of_wait_need_wait(run: Runner) -> None:
    result = run("apply", "--auto-approve", "--junit", "x.xml")
    assert result.code == 1 and "--junit only applies with --wait" in result.err


def test_an_unwritable_step_summary_is_a_warning(
    cli: Cli, run: Runner, sim: SimulatorServer, tmp_path: Path
) -> None:
    spec(cli)
    env = {"GITHUB_STEP_SUMMARY": str(tmp_path), "MAX_FAILED": "0"}  # a directory
    result = run("apply", "--auto-approve", "--wait", *FAST, env=env)
    assert result.code == 0, result.all
    assert "could not append the summary" in result.err


def test_ctrl_c_during_wait_exits_130_with_what_it_learned_recorded(
    cli: Cli, sim: SimulatorServer
) -> None:
    sim.set_outcome(name="leaky-bot", finish_after=10**6)
    spec(cli)
    assert cli.proc("apply", "--auto-approve").code == 0
    child = cli.popen("wait", "--interval", "50ms", "--timeout", "10m")
    deadline = time.monotonic() + 30
    while recorded(cli, "clean-bot") is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert recorded(cli, "clean-bot") is not None  # recorded while the wait goes on
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=30)
    result = Result(child.returncode, out, err)
    assert result.code == 130, result.all
    assert "Interrupted" in result.err
    assert recorded(cli, "leaky-bot") is None
    assert sim.trigger_count() == 2  # nothing re-triggered, nothing cancelled


def test_on_a_terminal_wait_redraws_one_progress_line(cli: Cli, sim: SimulatorServer) -> None:
    from tests.cli.test_terminal import run_in_pty

    # Runs take 60 simulated seconds, 0.1 s here: slow one down to 2 s, so the line moves.
    # (An ended run gets its own line above the live one.)
    sim.set_outcome(name="leaky-bot", finish_after=1200)
    spec(cli)
    assert cli.proc("apply", "--auto-approve").code == 0
    code, screen = run_in_pty(cli, "wait", "--interval", "100ms", "--timeout", "60s")
    assert code == 0, screen
    assert "waiting: 1/2 runs ended" in screen
    assert "\r\x1b[2K" in screen  # redrawn in place, not one line per poll
    assert "clean-bot: Finished (40 passed" in screen
    assert "All 2 runs passed their gates" in screen


def test_apply_wait_with_nothing_to_do_waits_for_nothing(
    cli: Cli, run: Runner, tmp_path: Path
) -> None:
    spec(cli)
    assert run("apply", "--auto-approve", "--wait", *FAST).code == 0
    junit = tmp_path / "junit.xml"
    again = run("apply", "--auto-approve", "--wait", *FAST, "--junit", str(junit))
    assert again.code == 0, again.all
    assert "nothing to wait for" in again.out
    # The report a CI job publishes is there, with no test in it.
    assert junitparser.JUnitXml.fromfile(str(junit)).tests == 0


def test_apply_wait_exits_1_before_waiting_when_the_apply_fails(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    # Every trigger is answered 500: the outcomes are unknown and the apply fails.
    spec(cli)
    sim.set_faults(error_rate=1.0)
    result = run("apply", "--auto-approve", "--wait", *FAST, "--max-attempts", "1")
    assert result.code == 1, result.all
    assert "nothing is waited for" in result.err
    assert not [r for r in sim.requests() if r.path.endswith("/status")]


def test_wait_with_no_tracked_runs_and_an_unknown_target(cli: Cli, run: Runner) -> None:
    spec(cli)
    empty = run("wait", *FAST)
    assert empty.code == 0 and "No tracked runs to wait for" in empty.out
    assert run("apply", "--auto-approve").code == 0
    unknown = run("wait", "--target", "nope", *FAST)
    assert unknown.code == 1 and "--target nope: no run with that key" in unknown.err


def test_results_seen_while_the_state_is_locked_are_recorded_by_a_later_command(
    cli: Cli, run: Runner
) -> None:
    from reconciler.state import LocalStateStore

    spec(cli)
    assert run("apply", "--auto-approve").code == 0
    store = LocalStateStore(cli.state_path)
    with store.lock("apply", timeout=0):
        held = run("wait", *FAST, env={"MAX_FAILED": "10"})
    assert held.code == 0, held.all
    assert "2 final results were not recorded" in held.err
    assert recorded(cli, "leaky-bot") is None
    # The runs are read again and recorded now: nothing was lost.
    later = run("wait", *FAST, env={"MAX_FAILED": "10"})
    assert later.code == 0 and "not recorded" not in later.err
    assert recorded(cli, "leaky-bot") is not None


def test_a_killed_wait_keeps_what_it_recorded_and_triggers_nothing_again(
    cli: Cli, sim: SimulatorServer
) -> None:
    sim.set_outcome(name="leaky-bot", finish_after=10**6)
    spec(cli)
    assert cli.proc("apply", "--auto-approve").code == 0
    child = cli.popen("wait", "--interval", "50ms", "--timeout", "10m")
    deadline = time.monotonic() + 30
    while recorded(cli, "clean-bot") is None and time.monotonic() < deadline:
        time.sleep(0.05)
    child.kill()
    child.communicate(timeout=30)
    assert recorded(cli, "clean-bot") is not None
    plan = cli.proc("plan", "--detailed-exitcode")
    assert plan.code == 0, plan.all  # nothing to trigger again
    assert sim.trigger_count() == 2


def test_a_rate_limited_status_endpoint_slows_the_wait_but_it_finishes(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    spec(cli)
    assert run("apply", "--auto-approve").code == 0
    sim.set_faults(rate_limit_rate=0.7, retry_after=0)
    result = run("wait", *FAST, "--max-attempts", "1", env={"MAX_FAILED": "10"})
    assert result.code == 0, result.all
    assert recorded(cli, "leaky-bot") is not None and recorded(cli, "clean-bot") is not None
    limited = [r for r in sim.requests() if r.path.endswith("/status") and r.status == 429]
    assert limited  # it did run into 429s, and kept going
