"""``state list|show|rm``, ``import``, ``force-unlock`` and ``destroy`` through the CLI."""

from __future__ import annotations

import json

from reconciler.simulator.server import SimulatorServer
from reconciler.state import open_store
from tests.e2e.conftest import SPEC_TWO_RUNS, Cli, Runner


def applied(cli: Cli, run: Runner) -> dict[str, int]:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    assert run("apply", "--auto-approve").code == 0
    runs = cli.state()["runs"]
    assert isinstance(runs, dict)
    return {key: entry["testRunId"] for key, entry in runs.items()}


def test_state_list_prints_key_id_and_status_per_line(cli: Cli, run: Runner) -> None:
    ids = applied(cli, run)
    result = run("state", "list")
    assert result.code == 0
    assert result.out.splitlines() == [
        f"chatbot-jailbreak\t{ids['chatbot-jailbreak']}\ttriggered",
        f"support-bot-injection\t{ids['support-bot-injection']}\ttriggered",
    ]


def test_state_list_of_no_state_is_empty(run: Runner) -> None:
    result = run("state", "list")
    assert (result.code, result.out) == (0, "")


def test_state_show_text_and_json(cli: Cli, run: Runner) -> None:
    ids = applied(cli, run)
    text = run("state", "show", "chatbot-jailbreak")
    assert text.code == 0
    assert text.out.startswith("# chatbot-jailbreak\n")
    assert f"testRunId          = {ids['chatbot-jailbreak']}" in text.out
    assert "probeIds           = [101, 102]" in text.out

    shown = run("state", "show", "chatbot-jailbreak", "--json")
    assert shown.code == 0
    document = json.loads(shown.out)
    assert document["key"] == "chatbot-jailbreak"
    assert document["status"] == "triggered"
    assert document["testRunId"] == ids["chatbot-jailbreak"]
    assert document["attributes"] == {
        "workspaceId": 1234,
        "targetId": 42,
        "probeIds": [101, 102],
        "name": "Nightly jailbreak sweep",
        "runAiAnalysis": True,
        "notifyWhenFinished": True,
    }
    assert isinstance(document["triggeredAt"], str)


def test_state_show_and_rm_of_an_unknown_key_fail_clearly(cli: Cli, run: Runner) -> None:
    applied(cli, run)
    before = cli.state_path.read_text()
    for args in (("state", "show", "nope"), ("state", "rm", "nope")):
        result = run(*args)
        assert result.code == 1
        assert "no run with key 'nope' in state" in result.err
        assert "chatbot-jailbreak" in result.err  # the keys that do exist
        assert "reconciler state list" in result.err
    assert cli.state_path.read_text() == before


def test_state_rm_forgets_without_cancelling(cli: Cli, run: Runner, sim: SimulatorServer) -> None:
    ids = applied(cli, run)
    result = run("state", "rm", "chatbot-jailbreak")
    assert result.code == 0
    assert "was not cancelled" in result.out
    assert set(cli.state()["runs"]) == {"support-bot-injection"}  # type: ignore[call-overload]
    assert {r["testRunId"]: r["status"] for r in sim.runs()}[ids["chatbot-jailbreak"]] != (
        "Canceled"
    )


def test_state_rm_of_several_keys_is_all_or_nothing(cli: Cli, run: Runner) -> None:
    applied(cli, run)
    result = run("state", "rm", "chatbot-jailbreak", "nope")
    assert result.code == 1
    assert len(cli.state()["runs"]) == 2  # type: ignore[arg-type]


def test_import_refusals(cli: Cli, run: Runner) -> None:
    ids = applied(cli, run)
    before = cli.state_path.read_text()
    not_declared = run("import", "not-in-specs", "5")
    assert not_declared.code == 1
    assert "no such key in the specs" in not_declared.err
    tracked = run("import", "chatbot-jailbreak", "77")
    assert tracked.code == 1
    assert f"already tracks run {ids['chatbot-jailbreak']}" in tracked.err
    assert "reconciler state rm chatbot-jailbreak" in tracked.err
    for bad in ("0", "2147483648"):
        out_of_range = run("import", "chatbot-jailbreak", bad)
        assert out_of_range.code == 1
        assert "positive int32" in out_of_range.err
    assert cli.state_path.read_text() == before


def test_import_adopts_with_the_spec_attributes(cli: Cli, run: Runner) -> None:
    applied(cli, run)
    assert run("state", "rm", "support-bot-injection").code == 0
    # Without a key the id is trusted as given, and the user is told so in one line.
    result = run("import", "support-bot-injection", "424242", env={"SPLX_API_KEY": None})
    assert result.code == 0, result.all
    assert "declared at specs/runs.yaml:10" in result.out
    assert result.err.count("\n") == 1 and "without checking" in result.err
    shown = json.loads(run("state", "show", "support-bot-injection", "--json").out)
    assert shown["testRunId"] == 424242
    assert shown["attributes"]["targetId"] == 43
    assert shown["note"] == "imported"
    assert run("plan", "--detailed-exitcode", "--refresh=false").code == 0
    # The simulator never made run 424242: a refreshing plan finds it gone.
    refreshed = run("plan", "--detailed-exitcode")
    assert refreshed.code == 2
    assert "(no longer exists on the platform)" in refreshed.out


def test_force_unlock_with_a_wrong_id_leaves_the_lock(cli: Cli, run: Runner) -> None:
    store = open_store(str(cli.state_path))
    with store.lock("test holder") as held:
        wrong = run("force-unlock", "not-the-id")
        assert wrong.code == 1
        assert "lock id not-the-id is not the lock" in wrong.err
        assert f"reconciler force-unlock {held.id}" in wrong.err
        busy = run("state", "rm", "x")
        assert busy.code == 1
        assert "test holder" in busy.err
        right = run("force-unlock", held.id)
        assert right.code == 0, right.all
        assert held.id in right.out


def test_force_unlock_without_a_lock(run: Runner) -> None:
    result = run("force-unlock", "abc")
    assert result.code == 1
    assert "is not locked" in result.err


def test_destroy_with_auto_approve_cancels_everything(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    applied(cli, run)
    result = run("destroy", "--auto-approve")
    assert result.code == 0, result.all
    assert "Destroy complete! 0 triggered, 0 replaced, 2 cancelled" in result.out
    assert cli.state()["runs"] == {}
    assert {r["status"] for r in sim.runs()} == {"Canceled"}


def test_destroy_without_approval_and_without_a_terminal_refuses(
    cli: Cli, sim: SimulatorServer
) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    assert cli.proc("apply", "--auto-approve").code == 0
    before = cli.state_path.read_text()
    result = cli.proc("destroy")
    assert result.code == 1
    assert "destroy needs approval, but there is no terminal" in result.err
    assert "--auto-approve" in result.err
    assert "Canceled" not in {r["status"] for r in sim.runs()}
    assert cli.state_path.read_text() == before


def test_destroy_of_an_empty_state_does_nothing(cli: Cli, run: Runner) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    result = run("destroy")
    assert result.code == 0, result.all
    assert "nothing to destroy" in result.out
    assert not cli.state_path.parent.exists()  # nothing was created either


def test_destroy_without_spec_files_needs_force(cli: Cli, run: Runner) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    assert run("apply", "--auto-approve").code == 0
    (cli.root / "specs" / "runs.yaml").unlink()
    (cli.root / "specs").rmdir()
    # Without specs, protect marks cannot be checked: destroy wants --force to go on.
    refused = run("destroy", "--auto-approve")
    assert refused.code == 1
    assert "protect" in refused.err and "--force" in refused.err
    assert len(cli.state()["runs"]) == 2
    result = run("destroy", "--auto-approve", "--force")
    assert result.code == 0, result.all
    assert cli.state()["runs"] == {}


def test_state_rm_keeps_the_keys_results_for_its_next_run(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    ids = applied(cli, run)
    sim.set_outcome(test_run_id=ids["chatbot-jailbreak"], failed=3, finish_after=0)
    assert run("status").code == 0  # records the final result
    result = run("state", "rm", "chatbot-jailbreak")
    assert result.code == 0
    assert "recorded results (1) are kept" in result.out
    retired = cli.state()["retired"]["chatbot-jailbreak"]  # type: ignore[index]
    assert [r["testRunId"] for r in retired] == [ids["chatbot-jailbreak"]]
    # The key's next run (the apply triggers it again) inherits them as history.
    assert run("apply", "--auto-approve").code == 0
    entry = cli.state()["runs"]["chatbot-jailbreak"]  # type: ignore[index]
    assert entry["testRunId"] != ids["chatbot-jailbreak"]
    failed = [
        (r["testRunId"], sum(p["counts"]["failed"] for p in r["probeRuns"]))
        for r in entry["history"]
    ]
    assert failed == [(ids["chatbot-jailbreak"], 3)]
