"""Renderers: golden text/JSON/markdown files, JSON schema, markdown cut, colour decision.

Regenerate the golden files after an intended change with
``RECONCILER_UPDATE_GOLDEN=1 python -m pytest tests/plan/test_render.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from reconciler import __version__
from reconciler.plan.diff import make_plan
from reconciler.plan.model import Action, Plan
from reconciler.plan.render import (
    MARKDOWN_LIMIT,
    NO_CHANGES,
    plan_document,
    render_json,
    render_markdown,
    render_text,
)
from tests.factories import attrs, tracked
from tests.plan.factories import desired, drun, state
from tests.plan.samples import (
    empty_plan,
    mixed_plan,
    moves_plan,
    refreshed_plan,
    removed_field_plan,
    retrigger_plan,
)

GOLDEN = Path(__file__).parent.parent / "data" / "plans"
UPDATE = os.environ.get("RECONCILER_UPDATE_GOLDEN") == "1"
ANSI = re.compile(r"\x1b\[[0-9;]*m")

SAMPLES: dict[str, Callable[[], Plan]] = {
    "mixed": mixed_plan,
    "empty": empty_plan,
    "retrigger": retrigger_plan,
    "moves": moves_plan,
    "removed": removed_field_plan,
    "refreshed": refreshed_plan,
}
RENDERERS: dict[str, Callable[[Plan], str]] = {
    "txt": lambda plan: render_text(plan, color=False),
    "color.txt": lambda plan: render_text(plan, color=True),
    "json": render_json,
    # The platform links replaced and cancelled runs (shown in the golden files).
    "md": lambda plan: render_markdown(plan, platform="https://probe.splx.ai"),
}


def schema() -> dict[str, Any]:
    text = resources.files("reconciler").joinpath("schemas/plan.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@pytest.mark.parametrize("sample", sorted(SAMPLES))
@pytest.mark.parametrize("fmt", sorted(RENDERERS))
def test_output_matches_golden_file(sample: str, fmt: str) -> None:
    rendered = RENDERERS[fmt](SAMPLES[sample]())
    path = GOLDEN / f"{sample}.{fmt}"
    if UPDATE:
        path.write_text(rendered, encoding="utf-8")
    assert rendered == path.read_text(encoding="utf-8"), f"{path} differs; see module docstring"


# --- text -----------------------------------------------------------------------------------


def test_text_marks_each_action_and_closes_with_the_summary() -> None:
    text = render_text(mixed_plan(), color=False)
    assert "  + chatbot-jailbreak" in text
    assert "-/+ prompt-leak" in text
    assert "  - old-sweep" in text
    assert "  ! flaky" in text
    assert "~ targetId: 42 → 43  # forces replacement" in text
    assert "~ probeIds: +103 -101  # forces replacement" in text
    assert "# declared at specs/chatbot.yaml:11" in text
    assert "steady" not in text  # no-ops are not listed
    assert text.rstrip().splitlines()[-2] == "Plan: 1 to trigger, 2 to replace, 1 to cancel."


def test_text_tells_what_to_do_about_unknown_outcomes() -> None:
    text = render_text(mixed_plan(), color=False)
    assert "reconciler import flaky TEST_RUN_ID" in text
    assert "reconciler state rm flaky" in text
    assert "reconciler apply --retrigger-unknown --target flaky" in text
    assert "reconciler state rm orphan" in text
    # orphan is not in the specs: there is nothing to re-trigger it with.
    assert "--target orphan" not in text


STATE_ARGS = " --state /tmp/alt.json"
PATHS_ARGS = " /tmp/w4/specs"


def test_text_next_steps_carry_the_state_and_spec_paths_of_the_plan() -> None:
    text = render_text(mixed_plan(), color=False, state_args=STATE_ARGS, paths_args=PATHS_ARGS)
    assert "reconciler import flaky TEST_RUN_ID /tmp/w4/specs --state /tmp/alt.json\n" in text
    assert "reconciler state rm flaky --state /tmp/alt.json\n" in text
    assert (
        "reconciler apply /tmp/w4/specs --retrigger-unknown --target flaky --state /tmp/alt.json\n"
        in text
    )
    # Every suggested command names the state: none would act on the default one.
    commands = [line for line in text.splitlines() if re.search(r"reconciler (im|st|ap)", line)]
    assert len(commands) == 5
    assert all(line.endswith(" --state /tmp/alt.json") for line in commands)


def test_next_step_arguments_are_joined_with_single_spaces_either_way() -> None:
    spaced = render_text(mixed_plan(), color=False, state_args=" --state s", paths_args=" p")
    bare = render_text(mixed_plan(), color=False, state_args="--state s", paths_args="p")
    assert spaced == bare
    assert "reconciler apply p --retrigger-unknown --target flaky --state s\n" in bare


def test_text_without_color_has_no_escape_codes_and_color_only_adds_them() -> None:
    plain = render_text(mixed_plan(), color=False)
    colored = render_text(mixed_plan(), color=True)
    assert "\x1b" not in plain
    assert "\x1b[" in colored
    assert ANSI.sub("", colored) == plain


def test_no_changes_text() -> None:
    assert render_text(empty_plan(), color=False) == NO_CHANGES + "\n"


def test_targeted_plan_says_so() -> None:
    assert "only the targeted keys were planned (--target): a" in render_text(
        retrigger_plan(), color=False
    )


# --- colour decision ------------------------------------------------------------------------


# --- JSON -----------------------------------------------------------------------------------


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_json_output_is_valid_against_the_shipped_schema(sample: str) -> None:
    document = json.loads(render_json(SAMPLES[sample]()))
    jsonschema.Draft202012Validator.check_schema(schema())
    jsonschema.validate(document, schema(), cls=jsonschema.Draft202012Validator)


def test_json_schema_rejects_a_malformed_document() -> None:
    document = plan_document(mixed_plan())
    document["runs"][0]["actions"] = ["delete"]  # a trigger that claims to delete
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, schema(), cls=jsonschema.Draft202012Validator)


def test_json_carries_state_identity_counts_and_changes() -> None:
    document = json.loads(render_json(mixed_plan()))
    assert document["format_version"] == "1.1"
    assert document["reconciler_version"] == __version__
    assert document["state"] == {"lineage": mixed_plan().lineage, "serial": 7}
    assert document["summary"] == {
        "trigger": 1,
        "replace": 2,
        "cancel": 1,
        "unknown": 2,
        "no-op": 1,
    }
    runs = {run["key"]: run for run in document["runs"]}
    leak = runs["prompt-leak"]
    assert leak["actions"] == ["delete", "create"]
    assert leak["before"]["testRunId"] == 5012
    assert leak["after"]["targetId"] == 43
    assert leak["changed_fields"][0] == {
        "field": "targetId",
        "before": 42,
        "after": 43,
        "detail": "targetId: 42 → 43",
    }
    assert runs["chatbot-jailbreak"]["before"] is None
    assert runs["old-sweep"]["after"] is None
    assert runs["steady"]["actions"] == ["no-op"]


# --- markdown -------------------------------------------------------------------------------


def test_markdown_has_summary_table_and_diff_details() -> None:
    text = render_markdown(mixed_plan())
    assert "**Plan: 1 to trigger, 2 to replace, 1 to cancel.**" in text
    assert "| 🟡 | replace | `prompt-leak` | fields changed |" in text
    assert "```diff\n- testRunId: 5012\n  workspaceId: 1234\n- targetId: 42\n+ targetId: 43" in text
    assert text.count("<details>") == text.count("</details>") == 4
    assert "[!WARNING]" in text


def test_markdown_next_steps_carry_the_state_and_spec_paths_of_the_plan() -> None:
    text = render_markdown(mixed_plan(), state_args=STATE_ARGS, paths_args=PATHS_ARGS)
    assert (
        "> - `flaky`: if the run exists: `reconciler import flaky TEST_RUN_ID /tmp/w4/specs "
        "--state /tmp/alt.json`; to forget it: `reconciler state rm flaky --state /tmp/alt.json`; "
        "to trigger it again: `reconciler apply /tmp/w4/specs --retrigger-unknown --target "
        "flaky --state /tmp/alt.json`\n"
    ) in text
    assert "`reconciler state rm orphan --state /tmp/alt.json`\n" in text
    # The note of a cut plan points to the same state and specs.
    cut = render_markdown(huge_plan(100), limit=5_000, state_args=STATE_ARGS, paths_args=PATHS_ARGS)
    assert "Run `reconciler plan /tmp/w4/specs --state /tmp/alt.json` (or `--format json`)" in cut


def test_markdown_diff_shows_a_field_the_new_run_drops() -> None:
    text = render_markdown(removed_field_plan())
    assert '  name: "Nightly"\n' in text
    assert "- revision: 3\n" in text
    assert "+ revision" not in text


def test_markdown_escapes_what_would_break_the_table_or_the_html() -> None:
    key = "a|b<c>`d"
    plan = make_plan(desired(drun(key, attrs(name="```"))), state())
    text = render_markdown(plan)
    assert "| 🟢 | trigger | `` a\\|b<c>`d `` | new key |" in text
    assert "<code>a|b&lt;c&gt;`d</code>" in text
    assert "````diff\n+ workspaceId: 1234" in text  # fence longer than the ``` in the name


def huge_plan(count: int) -> Plan:
    runs = [drun(f"run-{i:05d}", attrs(name=f"a long name for run {i}")) for i in range(count)]
    gone = {f"gone-{i:05d}": tracked(attrs(), i) for i in range(count)}
    return make_plan(desired(*runs), state(gone))


@pytest.mark.parametrize("limit", [MARKDOWN_LIMIT, 20_000])
def test_markdown_of_a_huge_plan_is_cut_under_the_limit_with_a_note(limit: int) -> None:
    text = render_markdown(huge_plan(1000), limit=limit)
    assert len(text) <= limit
    assert "**Plan: 1000 to trigger, 0 to replace, 1000 to cancel.**" in text
    match = re.search(r"Output cut to fit a comment:\*\* (\d+) of 2000 runs listed", text)
    assert match is not None
    listed = int(match.group(1))
    assert listed == text.count("| 🟢 | trigger |") + text.count("| 🔴 | cancel |")
    assert 0 < listed < 2000
    assert "<details>" not in text  # rows come before details


def test_markdown_keeps_every_row_and_cuts_details_when_only_they_overflow() -> None:
    plan = huge_plan(60)
    full = render_markdown(plan, limit=10**7)
    assert "cut" not in full
    limit = len(full) // 2
    text = render_markdown(plan, limit=limit)
    assert len(text) <= limit
    assert text.count("| 🟢 | trigger |") == 60
    shown = text.count("<details>")
    assert 0 < shown < 120
    assert f"120 of 120 runs listed, {shown} of 120 diffs shown" in text
    assert text.count("<details>") == text.count("</details>")


def test_markdown_never_exceeds_even_a_tiny_limit() -> None:
    assert len(render_markdown(huge_plan(5), limit=50)) == 50


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def emoji_plan(count: int) -> Plan:
    runs = [drun(f"run-{i:05d}", attrs(name=f"🔥 nightly sweep {i} 🚀")) for i in range(count)]
    return make_plan(desired(*runs), state())


def test_markdown_budget_counts_utf16_units_as_github_does() -> None:
    # 3,000 runs: every table row has a two-unit emoji, so characters undercount the size.
    text = render_markdown(emoji_plan(3000))
    assert MARKDOWN_LIMIT == 60_000
    assert utf16_units(text) <= MARKDOWN_LIMIT
    assert len(text) < utf16_units(text)
    match = re.search(r"Output cut to fit a comment:\*\* (\d+) of 3000 runs listed", text)
    assert match is not None
    assert int(match.group(1)) == text.count("| 🟢 | trigger |")
    assert all(line.endswith(" |") for line in text.splitlines() if line.startswith("|"))


def test_markdown_budget_in_utf16_units_for_details_too() -> None:
    plan = emoji_plan(40)
    full = render_markdown(plan, limit=10**7)
    limit = utf16_units(full) - 100
    assert len(full) <= limit  # would fit if characters were counted
    text = render_markdown(plan, limit=limit)
    assert utf16_units(text) <= limit
    assert "40 of 40 runs listed, 39 of 40 diffs shown" in text


def test_markdown_last_resort_cut_never_splits_an_emoji() -> None:
    # Nothing to list, so the header alone is cut: it ends with the targeted key, an emoji.
    run = drun("🔥", attrs(name="x"))
    plan = make_plan(desired(run), state({"🔥": tracked(run.attributes)}), targets=["🔥"])
    whole = render_markdown(plan, limit=10**7)
    before_emoji = whole[: whole.index("🔥")]
    text = render_markdown(plan, limit=utf16_units(before_emoji) + 1)  # half of the emoji
    assert text == before_emoji


def test_markdown_without_changes() -> None:
    text = render_markdown(empty_plan())
    assert NO_CHANGES in text
    assert "|" not in text


def test_markdown_lists_retriggers_as_triggers() -> None:
    plan = retrigger_plan()
    assert [c.action for c in plan.changes] == [Action.TRIGGER]
    assert "| 🟢 | trigger | `a` | re-trigger requested for an unknown outcome |" in (
        render_markdown(plan)
    )
    assert "_Only the targeted keys were planned (`--target`): `a`._" in render_markdown(plan)
    assert "```diff\n+ workspaceId: 1234" in render_markdown(plan)


def test_suggested_commands_quote_keys_a_shell_would_glob() -> None:
    # Matrix keys hold [ ] and =: unquoted, bash may glob them and zsh refuses them.
    key = "nightly[targetId=42]"
    plan = make_plan(desired(), state({key: tracked(attrs(), status="unknown")}))
    text = render_text(plan, color=False)
    assert "reconciler state rm 'nightly[targetId=42]'" in text
