"""``reconciler status`` and ``import`` against the simulator's status endpoint, with both
spellings of statuses (the product's ``Finished`` and the upper-case ``FINISHED``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from typing import Any

import jsonschema
import pytest

from reconciler.simulator.config import KeyGrant, SimulatorConfig
from reconciler.simulator.server import SimulatorServer
from tests.e2e.conftest import API_KEY, LIMITED_KEY, SPEC_TWO_RUNS, Cli, Runner, api_requests

JAILBREAK = "Nightly jailbreak sweep"  # the name chatbot-jailbreak is triggered with
PLATFORM = "https://probe.splx.ai"


@pytest.fixture(params=["product", "upper"])
def sim(request: pytest.FixtureRequest) -> Iterator[SimulatorServer]:
    """Runs end 600 simulated seconds after their trigger; tests move the clock."""
    config = SimulatorConfig(
        keys={
            API_KEY: KeyGrant(label="e2e"),
            LIMITED_KEY: KeyGrant(label="limited", workspaces=frozenset({1})),
        },
        start_after=0.0,
        finish_after=600,
        status_case=request.param,
    )
    with SimulatorServer(config) as server:
        yield server


def schema() -> dict[str, Any]:
    text = resources.files("reconciler").joinpath("schemas/status.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def ids(cli: Cli) -> dict[str, int]:
    runs: dict[str, Any] = cli.state()["runs"]  # type: ignore[assignment]
    return {key: entry["testRunId"] for key, entry in runs.items()}


def status_reads(sim: SimulatorServer) -> list[str]:
    return [r.path for r in api_requests(sim) if r.path.endswith("/status")]


def applied(cli: Cli, run: Runner) -> dict[str, int]:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    result = run("apply", "--auto-approve")
    assert result.code == 0, result.all
    return ids(cli)


def test_status_follows_runs_to_their_end_and_then_asks_no_more(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    sim.set_outcome(name=JAILBREAK, failed=4)
    runs = applied(cli, run)
    going = run("status")
    assert going.code == 0, going.all
    assert going.out.startswith("chatbot-jailbreak: Running, run ")
    assert "support-bot-injection: Running, run " in going.out
    assert going.out.rstrip().endswith("2 runs: 0 passed, 0 failed, 2 still going.")
    assert "result" not in cli.state()["runs"]["chatbot-jailbreak"]  # type: ignore[index]

    sim.advance_clock(700)
    ended = run("status")
    assert ended.code == 0, ended.all
    jailbreak = runs["chatbot-jailbreak"]
    assert (
        f"chatbot-jailbreak: Finished, run {jailbreak}, 36 passed, 4 failed (4 new, 0 known; "
        "0 fixed), 0 errored of 40, gate passed"
    ) in ended.out
    assert f"  {PLATFORM}/w/1234/target/42/test-runs/{jailbreak}" in ended.out
    # The simulator really sent this fixture's spelling...
    sent = sim.status_document(jailbreak)
    assert sent is not None
    assert sent["status"] == ("FINISHED" if sim.config.status_case == "upper" else "Finished")
    # ...and state keeps the product's spelling either way.
    recorded = cli.state()["runs"]["chatbot-jailbreak"]["result"]  # type: ignore[index]
    assert recorded["status"] == "Finished"  # the product's spelling, whatever the API sent
    assert sum(p["counts"]["failed"] for p in recorded["probeRuns"]) == 4
    # Its findings were read with it and recorded beside it: identities, never content.
    assert len(recorded["findings"]["records"]) == 4

    shown = run("state", "show", "chatbot-jailbreak")
    assert "result             = Finished, 36 passed, 4 failed, 0 errored of 40" in shown.out

    before = len(status_reads(sim))
    exports = len([r for r in sim.requests() if r.path.endswith("/test-cases/export")])
    again = run("status")
    assert again.code == 0
    assert len(status_reads(sim)) == before  # ended runs are never asked about again
    # ...nor are their recorded findings.
    assert len([r for r in sim.requests() if r.path.endswith("/test-cases/export")]) == exports
    assert "2 runs: 2 passed, 0 failed, 0 still going." in again.out


def test_a_run_cancelled_in_the_ui_errored_or_deleted_fails_with_exit_3(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    runs = applied(cli, run)
    sim.cancel_from_ui(runs["chatbot-jailbreak"])
    cancelled = run("status")
    assert cancelled.code == 3, cancelled.all
    assert f"chatbot-jailbreak: Canceled, run {runs['chatbot-jailbreak']}" in cancelled.out
    assert "  - ended in Canceled" in cancelled.out

    sim.set_outcome(test_run_id=runs["support-bot-injection"], status="Error", finish_after=0)
    errored = run("status", "--target", "support-bot-injection")
    assert errored.code == 3
    assert "support-bot-injection: Error" in errored.out and "  - ended in Error" in errored.out


def test_a_run_deleted_on_the_platform_is_gone_and_nothing_is_recorded(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    runs = applied(cli, run)
    sim.delete_run(runs["support-bot-injection"])
    before = cli.state_path.read_bytes()
    gone = run("status")
    assert gone.code == 3
    assert f"support-bot-injection: Gone, run {runs['support-bot-injection']}" in gone.out
    assert "1 gone" in gone.out
    assert cli.state_path.read_bytes() == before


def test_json_from_the_simulator_is_valid_against_the_schema(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    sim.set_outcome(name="support-bot-injection", failed=2, finish_after=0)
    runs = applied(cli, run)
    shown = run("status", "--format", "json")
    assert shown.code == 0, shown.all
    document = json.loads(shown.out)
    jsonschema.validate(document, schema())
    by_key = {entry["key"]: entry for entry in document["runs"]}
    ended = by_key["support-bot-injection"]
    assert ended["status"] == "Finished" and ended["ended"] is True
    assert ended["counts"]["failed"] == 2
    assert [p["probeId"] for p in ended["probeRuns"]] == [103]
    assert ended["testRunId"] == runs["support-bot-injection"]
    assert by_key["chatbot-jailbreak"]["status"] == "Running"
    assert by_key["chatbot-jailbreak"]["verdict"]["outcome"] == "pending"
    # Two status reads and one export: the ended run's only probe run with failures.
    assert document["summary"]["requests"] == 3
    assert ended["findings"]["newCount"] == 2 and ended["findings"]["previousRunId"] is None
    assert by_key["chatbot-jailbreak"]["findings"] is None  # not ended: nothing to say yet


def test_server_errors_and_timeouts_name_the_run_and_exit_1(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    applied(cli, run)
    before = cli.state_path.read_bytes()
    sim.set_faults(error_rate=1.0)
    failing = run("status", "--max-attempts", "1")
    assert failing.code == 1
    assert "chatbot-jailbreak: Unreadable" in failing.out
    assert "could not read 2 runs: chatbot-jailbreak, support-bot-injection" in failing.err
    assert "Traceback" not in failing.all
    sim.set_faults(error_rate=0.0, latency=1.0)
    slow = run("status", "--max-attempts", "1", "--request-timeout", "0.2s")
    assert slow.code == 1
    assert "support-bot-injection: Unreadable" in slow.out
    assert cli.state_path.read_bytes() == before


@pytest.mark.parametrize(
    ("key", "words"),
    [("not-a-key-at-all-123", "401"), (LIMITED_KEY, "403")],
)
def test_a_refused_key_ends_status_with_a_clear_message(
    cli: Cli, run: Runner, sim: SimulatorServer, key: str, words: str
) -> None:
    applied(cli, run)
    before = cli.state_path.read_bytes()
    refused = run("status", env={"SPLX_API_KEY": key})
    assert refused.code == 1
    assert refused.err.startswith("Error: ")
    assert words in refused.err
    assert key not in refused.all
    assert "Traceback" not in refused.all
    assert cli.state_path.read_bytes() == before


def test_without_a_key_ended_runs_still_show(cli: Cli, run: Runner, sim: SimulatorServer) -> None:
    sim.set_outcome(name="support-bot-injection", finish_after=0)
    applied(cli, run)
    assert run("status", "--target", "support-bot-injection").code == 0  # records its end
    offline = run("status", env={"SPLX_API_KEY": None})
    assert offline.code == 1
    assert "support-bot-injection: Finished" in offline.out
    assert "chatbot-jailbreak: Unreadable" in offline.out
    assert "not read: SPLX_API_KEY is not set" in offline.out
    only_ended = run("status", "--target", "support-bot-injection", env={"SPLX_API_KEY": None})
    assert only_ended.code == 0


def test_status_as_a_real_process(cli: Cli, run: Runner, sim: SimulatorServer) -> None:
    applied(cli, run)
    result = cli.proc("status", "--platform-url", "https://us.probe.splx.ai")
    assert result.code == 0, result.err
    assert "2 runs: 0 passed, 0 failed, 2 still going." in result.out
    assert "https://us.probe.splx.ai/w/1234/target/43/test-runs/" in result.out
    assert result.err == ""


# --- import against the simulator ------------------------------------------------------------


def test_import_refuses_an_id_the_platform_does_not_know(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    applied(cli, run)
    assert run("state", "rm", "support-bot-injection").code == 0
    before = cli.state_path.read_bytes()
    refused = run("import", "support-bot-injection", "999999")
    assert refused.code == 1
    assert "the platform has no test run 999999 in workspace 1234" in refused.err
    assert cli.state_path.read_bytes() == before


def test_import_of_an_ended_run_records_its_result_and_warns_of_other_probes(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    sim.set_outcome(name=JAILBREAK, failed=1, finish_after=0)
    runs = applied(cli, run)
    assert run("state", "rm", "chatbot-jailbreak", "support-bot-injection").code == 0
    # The chatbot's run (probes 101, 102) adopted under the key that declares probe 103.
    adopted = run("import", "support-bot-injection", str(runs["chatbot-jailbreak"]))
    assert adopted.code == 0, adopted.all
    assert "ran probes [101, 102], but 'support-bot-injection' declares probeIds [103]" in (
        adopted.err
    )
    assert "(recorded: it has ended)" in adopted.out
    entry = cli.state()["runs"]["support-bot-injection"]  # type: ignore[index]
    assert entry["result"]["status"] == "Finished"
    assert entry["note"] == "imported"


def test_bad_options_are_clear_errors(cli: Cli, run: Runner, sim: SimulatorServer) -> None:
    applied(cli, run)
    untracked = run("status", "--target", "nope")
    assert untracked.code == 1
    assert "--target nope: no run with that key in state" in untracked.err
    bad_platform = run("status", "--platform-url", "not a url")
    assert bad_platform.code == 1 and "--platform-url" in bad_platform.err
    assert status_reads(sim) == []  # both refused before any request
    assert "Traceback" not in untracked.all + bad_platform.all
