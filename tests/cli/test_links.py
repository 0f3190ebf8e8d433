"""Links to runs on the platform: after apply, in ``state show`` and in the markdown plan."""

from __future__ import annotations

import json
import re

from tests.e2e.conftest import SPEC_TWO_RUNS, Cli, Runner

PLATFORM = "https://eu.platform.test"


def test_apply_prints_the_link_of_every_run_it_triggers(cli: Cli, run: Runner) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    applied = run("apply", "--auto-approve", "--platform-url", PLATFORM + "/")
    assert applied.code == 0, applied.all
    ids = {key: entry["testRunId"] for key, entry in cli.state()["runs"].items()}  # type: ignore[attr-defined]
    lines = applied.out.splitlines()
    summary = next(i for i, line in enumerate(lines) if line.startswith("Apply complete!"))
    assert lines[summary + 1 : summary + 3] == [
        f"  + chatbot-jailbreak: run {ids['chatbot-jailbreak']} "
        f"{PLATFORM}/w/1234/target/42/test-runs/{ids['chatbot-jailbreak']}",
        f"  + support-bot-injection: run {ids['support-bot-injection']} "
        f"{PLATFORM}/w/1234/target/43/test-runs/{ids['support-bot-injection']}",
    ]
    replaced = run("apply", "--auto-approve", "--replace", "chatbot-jailbreak")
    new_id = cli.state()["runs"]["chatbot-jailbreak"]["testRunId"]  # type: ignore[index]
    # SPLX_PLATFORM_URL unset, no region: the EU platform.
    assert (
        f"  -/+ chatbot-jailbreak: run {new_id} "
        f"https://probe.splx.ai/w/1234/target/42/test-runs/{new_id}"
    ) in replaced.out


def test_a_bad_platform_url_fails_before_anything_is_sent(cli: Cli, run: Runner) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    refused = run("apply", "--auto-approve", "--platform-url", "ftp://nope")
    assert refused.code == 1
    assert "--platform-url" in refused.err
    assert not cli.state_path.exists()


def test_state_show_carries_the_link_in_text_and_json(cli: Cli, run: Runner) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    assert run("apply", "--auto-approve").code == 0
    run_id = cli.state()["runs"]["support-bot-injection"]["testRunId"]  # type: ignore[index]
    url = f"{PLATFORM}/w/1234/target/43/test-runs/{run_id}"
    text = run("state", "show", "support-bot-injection", env={"SPLX_PLATFORM_URL": PLATFORM})
    assert f"url                = {url}" in text.out.splitlines()
    shown = run("state", "show", "support-bot-injection", "--json", "--platform-url", PLATFORM)
    assert json.loads(shown.out)["url"] == url


def test_the_markdown_plan_links_the_runs_it_replaces_or_cancels(cli: Cli, run: Runner) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    assert run("apply", "--auto-approve").code == 0
    ids = {key: entry["testRunId"] for key, entry in cli.state()["runs"].items()}  # type: ignore[attr-defined]
    changed = SPEC_TWO_RUNS.replace("targetId: 43", "targetId: 44").replace(
        "  chatbot-jailbreak:", "  renamed-away:"
    )
    cli.write_spec("runs.yaml", changed)
    md = run("plan", "--format", "markdown", "--platform-url", PLATFORM)
    assert md.code == 0, md.all
    rows = {
        m.group(1): m.group(0) for m in re.finditer(r"^\| .* \| `([^`]+)` \| .*$", md.out, re.M)
    }
    assert (
        f"[run {ids['support-bot-injection']}]"
        f"({PLATFORM}/w/1234/target/43/test-runs/{ids['support-bot-injection']})"
    ) in rows["support-bot-injection"]
    assert f"[run {ids['chatbot-jailbreak']}](" in rows["chatbot-jailbreak"]  # the cancel
    assert "](" not in rows["renamed-away"]  # a new run has nothing to link yet
