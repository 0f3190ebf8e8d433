"""load_specs: files and directories → DesiredSet, and every error it can report."""

from __future__ import annotations

import gc
import shutil
from pathlib import Path

import pytest

from reconciler.errors import SpecError, SpecValidationError
from reconciler.records import RunAttributes
from reconciler.spec import DesiredSet, load_specs
from reconciler.spec.model import DesiredRun, Move, desired_checksum

DATA = Path(__file__).resolve().parent.parent / "data" / "specs"
EXAMPLES = Path(__file__).resolve().parents[2] / "specs" / "examples"


@pytest.fixture(autouse=True)
def _in_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    # Messages name files relative to the working directory; run where the fixtures are.
    monkeypatch.chdir(DATA)


def errors_of(*paths: str | Path) -> list[SpecError]:
    with pytest.raises(SpecValidationError) as info:
        load_specs(list(paths))
    return info.value.errors


def where(error: SpecError) -> tuple[str | None, int | None, str | None]:
    return error.file, error.line, error.field


# --- valid specs -----------------------------------------------------------------------------


def test_product_example_loads_with_defaults_merged() -> None:
    desired = load_specs(["valid/product.yaml"])
    run = desired.runs["chatbot-jailbreak"]
    assert run.attributes == RunAttributes(
        workspace_id=1234,
        target_id=42,
        probe_ids=(101, 102),
        name="Nightly jailbreak sweep",
        run_ai_analysis=True,
        notify_when_finished=False,  # the run's own false beats the defaults' true
    )
    assert (run.file, run.line, run.source) == ("valid/product.yaml", 5, "valid/product.yaml:5")
    assert run.protect is False
    assert desired.files == ("valid/product.yaml",)


def test_directory_is_read_recursively_in_sorted_order_skipping_hidden_and_other_files() -> None:
    desired = load_specs(["valid"])
    assert desired.files == (
        "valid/nested/deeper/keys.yaml",
        "valid/nested/more.yml",
        "valid/nested/no-runs.yaml",
        "valid/product.yaml",
    )
    assert set(desired.runs) == {
        "team/chatbot:jailbreak[eu]=v1,nightly_2.0-x",
        "2024-06-01",
        "octal-looking",
        "123",
        "true",
        "agent-data-leak",
        "chatbot-jailbreak",
    }


def test_paths_keep_argument_order_and_each_file_is_read_once() -> None:
    desired = load_specs(["valid/product.yaml", "valid", "./valid/product.yaml"])
    assert desired.files[0] == "valid/product.yaml"
    assert desired.files.count("valid/product.yaml") == 1
    assert len(desired.files) == 4


def test_yaml_1_1_traps_are_read_as_yaml_1_2() -> None:
    runs = load_specs(["valid/nested/deeper/keys.yaml"]).runs
    # Bare dates, numbers and booleans as keys are the text written; `on` is a string and
    # `012` is twelve, not octal ten.
    assert runs["2024-06-01"].attributes.name == "2024-06-01"
    assert runs["123"].attributes.name == "123"
    assert runs["true"].attributes.target_id == 4
    assert runs["octal-looking"].attributes.target_id == 12
    assert runs["octal-looking"].attributes.probe_ids == (10,)
    assert runs["octal-looking"].attributes.name == "on"


def test_probe_ids_are_a_sorted_set() -> None:
    runs = load_specs(["valid/nested/more.yml"]).runs
    assert runs["agent-data-leak"].attributes.probe_ids == (301, 302, 305)


def test_defaults_fill_every_field_a_run_leaves_out() -> None:
    run = load_specs(["defaults/precedence.yaml"]).runs["inherits-everything"]
    assert run.attributes.wire() == {
        "workspaceId": 1234,
        "targetId": 42,
        "probeIds": [101, 102, 103],
        "name": "inherits-everything",
        "runAiAnalysis": True,
        "notifyWhenFinished": True,
    }
    assert run.protect is True


def test_a_run_overrides_every_default_and_the_file_workspace() -> None:
    run = load_specs(["defaults/precedence.yaml"]).runs["overrides-everything"]
    assert run.attributes.wire() == {
        "workspaceId": 5678,
        "targetId": 7,
        "probeIds": [9],
        "name": "Own name",
        "runAiAnalysis": False,
        "notifyWhenFinished": False,
    }
    assert run.protect is False


def test_an_empty_probe_list_is_kept_and_overrides_defaults() -> None:
    run = load_specs(["defaults/precedence.yaml"]).runs["empty-probes"]
    assert run.attributes.probe_ids == ()


def test_booleans_default_to_false_without_defaults() -> None:
    run = load_specs(["defaults/no-defaults.yaml"]).runs["bare"]
    assert (run.attributes.run_ai_analysis, run.attributes.notify_when_finished) == (False, False)
    assert run.protect is False


def test_examples_load() -> None:
    desired = load_specs([EXAMPLES], env={})
    assert len(desired.files) == 7
    assert desired.runs["support-bot-configured"].attributes.probe_ids is None
    assert desired.runs["support-bot-nightly[probeIds=configured]"].attributes.probe_ids is None
    assert desired.runs["nightly[probeIds=jailbreak,targetId=43]"].attributes.probe_ids == (
        101,
        102,
        103,
    )
    assert desired.runs["weekly-full-sweep"].attributes.revision == 3
    assert desired.runs["checkout-bot-jailbreak"].attributes.workspace_id == 1234
    assert [(m.source, m.target) for m in desired.moves] == [
        ("support-bot-weekly", "support-bot-regression")
    ]
    assert desired.runs["partner-agent-data-leak"].attributes.workspace_id == 5678
    assert desired.runs["partner-agent-data-leak"].attributes.probe_ids == (401, 402)
    assert desired.runs["support-bot-release-2.4"].attributes.run_ai_analysis is True
    assert desired.runs["support-bot-release-2.4"].protect is True
    assert desired.runs["support-bot-jailbreak"].attributes.notify_when_finished is True


def test_no_spec_files_gives_an_empty_set(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a spec")
    desired = load_specs([tmp_path])
    assert desired == DesiredSet(runs={}, checksum=desired_checksum([], []), files=())


def test_a_file_with_no_runs_is_fine() -> None:
    desired = load_specs(["valid/nested/no-runs.yaml"])
    assert desired.runs == {}
    assert desired.files == ("valid/nested/no-runs.yaml",)


def test_files_outside_the_working_directory_are_named_as_given(tmp_path: Path) -> None:
    shutil.copy(DATA / "valid" / "product.yaml", tmp_path / "p.yaml")
    desired = load_specs([tmp_path])
    assert desired.files == ((tmp_path / "p.yaml").as_posix(),)


def test_absolute_paths_under_the_working_directory_are_shown_relative() -> None:
    desired = load_specs([DATA / "valid" / "product.yaml"])
    assert desired.files == ("valid/product.yaml",)


# --- checksum --------------------------------------------------------------------------------


def _copy_valid(tmp_path: Path) -> Path:
    target = tmp_path / "specs"
    shutil.copytree(DATA / "valid", target)
    return target


def test_checksum_is_stable_and_follows_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    specs = _copy_valid(tmp_path)
    first = load_specs(["specs"]).checksum
    assert load_specs(["specs"]).checksum == first
    (specs / "product.yaml").write_text(
        (specs / "product.yaml").read_text().replace("targetId: 42", "targetId: 43")
    )
    changed = load_specs(["specs"]).checksum
    assert changed != first
    (specs / "product.yaml").write_text(
        (specs / "product.yaml").read_text().replace("targetId: 43", "targetId: 42")
    )
    assert load_specs(["specs"]).checksum == first


def test_checksum_ignores_comments_layout_and_which_file_holds_a_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    specs = _copy_valid(tmp_path)
    first = load_specs(["specs"]).checksum
    (specs / "nested" / "more.yml").rename(specs / "more.yml")
    assert load_specs(["specs"]).checksum == first
    product = specs / "product.yaml"
    product.write_text(
        "# reviewed\n" + product.read_text().replace("targetId: 42 ", "targetId: 42")
    )
    assert load_specs(["specs"]).checksum == first
    product.write_text(product.read_text().replace("runAiAnalysis: true", "runAiAnalysis: false"))
    assert load_specs(["specs"]).checksum != first


def test_checksum_does_not_depend_on_argument_order() -> None:
    one = load_specs(["valid/product.yaml", "defaults"]).checksum
    assert load_specs(["defaults", "valid/product.yaml"]).checksum == one


def _run(key: str = "a", *, revision: int | str | None = None, protect: bool = False) -> DesiredRun:
    attributes = RunAttributes(
        workspace_id=1, target_id=2, probe_ids=(3,), name="a", revision=revision
    )
    return DesiredRun(key, attributes, "a.yaml", 1, protect)


def test_checksum_covers_keys_attributes_protect_name_defaulted_and_moves() -> None:
    base = desired_checksum([_run()], [])
    others = {
        desired_checksum([_run("b")], []),
        desired_checksum([_run(revision=2)], []),
        desired_checksum([_run(revision="2")], []),
        desired_checksum([_run(protect=True)], []),
        desired_checksum([_run()], [Move("old", "a", "a.yaml", 9)]),
        # Writing out the default name decides whether a tracked run keeps its name.
        desired_checksum([_run()._replace(name_defaulted=True)], []),
    }
    assert len(others) == 6 and base not in others
    # Where a run or a move is written does not count; the order they are read in neither.
    moved = DesiredRun("a", _run().attributes, "b.yaml", 7)
    assert desired_checksum([moved], []) == base
    pair = [_run("a"), _run("b")]
    assert desired_checksum(pair, []) == desired_checksum(pair[::-1], [])


# --- errors ----------------------------------------------------------------------------------


def test_unknown_fields_everywhere_with_suggestions() -> None:
    errors = errors_of("errors/unknown_fields.yaml")
    found = {(e.line, e.field): e.hint for e in errors}
    assert found == {
        (2, "workspaceID"): "did you mean workspaceId?",
        (4, "defaults.notifyWhenFinish"): "did you mean notifyWhenFinished?",
        (5, "defaults.workspaceId"): (
            "workspaceId goes at the top of the file (or on a run), not in defaults"
        ),
        (10, "testRuns.chatbot.probe_ids"): "did you mean probeIds?",
        (11, "testRuns.chatbot.colour"): (
            "the fields allowed here are: workspaceId, targetId, probeIds, name, "
            "runAiAnalysis, notifyWhenFinished, protect, revision, rerunAfter, matrix, gate"
        ),
    }
    assert all(e.message.startswith("unknown field") for e in errors)


def test_wrong_types_name_the_value_and_its_type() -> None:
    errors = errors_of("errors/wrong_types.yaml")
    got = [(e.line, e.field, e.message) for e in errors]
    assert got == [
        (1, "workspaceId", "expected an integer, got '1234' (a string)"),
        (4, "testRuns.bool-for-int.targetId", "expected an integer, got true (a boolean)"),
        (7, "testRuns.string-for-int.targetId", "expected an integer, got '42' (a string)"),
        (8, "testRuns.string-for-int.probeIds[1]", "expected an integer, got '102' (a string)"),
        (
            10,
            "testRuns.float-for-int.targetId",
            "expected an integer, got 4.5 (a number with a fraction)",
        ),
        (
            11,
            "testRuns.float-for-int.probeIds[0]",
            "expected an integer, got 1.0 (a number with a fraction)",
        ),
        (15, "testRuns.not-a-bool.runAiAnalysis", "expected true or false, got 'yes' (a string)"),
        (
            16,
            "testRuns.not-a-bool.notifyWhenFinished",
            "expected true or false, got 1 (an integer)",
        ),
        (20, "testRuns.not-a-name.name", "expected text, got 123 (an integer)"),
        (23, "testRuns.not-a-list.probeIds", "expected a list, got 101 (an integer)"),
    ]
    hints = {e.field: e.hint for e in errors}
    assert hints["testRuns.bool-for-int.targetId"] == (
        "write the target's numeric id, e.g. targetId: 42"
    )
    assert hints["testRuns.string-for-int.targetId"] == "remove the quotes: write 42, not '42'"
    assert hints["testRuns.not-a-list.probeIds"] == (
        "write a list of numeric probe ids (or null: the target's configured probes), "
        "e.g. probeIds: [101, 102]"
    )


def test_the_rendered_message_matches_the_documented_shape() -> None:
    error = errors_of("errors/wrong_types.yaml")[1]
    assert str(error) == (
        "errors/wrong_types.yaml:4: testRuns.bool-for-int.targetId: expected an integer, "
        "got true (a boolean)\n  hint: write the target's numeric id, e.g. targetId: 42"
    )


def test_int32_range_is_checked_at_both_ends() -> None:
    errors = errors_of("errors/int32.yaml")
    assert [(e.line, e.field) for e in errors] == [
        (1, "workspaceId"),
        (4, "testRuns.too-low.targetId"),
        (10, "testRuns.too-high.probeIds[1]"),
    ]
    assert errors[0].message.startswith("2147483648 is out of range")
    assert errors[1].message.startswith("-2147483649 is out of range")
    assert all("from -2147483648 to 2147483647" in e.message for e in errors)


def test_duplicate_keys_in_one_file_name_both_lines() -> None:
    errors = errors_of("errors/duplicate_key.yaml")
    assert [(e.line, e.field, e.message) for e in errors] == [
        (6, "testRuns.chatbot.targetId", "duplicate key 'targetId' (first at line 4)"),
        (10, "testRuns.chatbot", "duplicate key 'chatbot' (first at line 3)"),
    ]


def test_duplicate_run_keys_across_files_name_both_places() -> None:
    [error] = errors_of("errors/dup_across")
    assert where(error) == ("errors/dup_across/b.yaml", 6, "testRuns.shared-key")
    assert "errors/dup_across/a.yaml:3" in error.message


@pytest.mark.parametrize(
    ("name", "line", "column", "text"),
    [
        ("syntax.yaml", 5, 16, "mapping values are not allowed"),
        ("tab.yaml", 3, 1, "cannot start any token"),
        ("unclosed.yaml", 5, 13, "while parsing a flow sequence (line 4)"),
        ("two_documents.yaml", 3, 1, "expected a single document"),
    ],
)
def test_yaml_syntax_errors_give_line_and_column(
    name: str, line: int, column: int, text: str
) -> None:
    [error] = errors_of(f"errors/{name}")
    assert (error.file, error.line, error.column) == (f"errors/{name}", line, column)
    assert text in error.message
    assert str(error).startswith(f"errors/{name}:{line}:{column}: YAML syntax error: ")
    assert "Traceback" not in str(error)


def test_tab_indentation_gets_its_own_hint() -> None:
    [error] = errors_of("errors/tab.yaml")
    assert error.hint == "YAML indentation must use spaces, not tabs"


@pytest.mark.parametrize("name", ["empty.yaml", "comments_only.yaml"])
def test_an_empty_file_is_an_error_naming_it(name: str) -> None:
    [error] = errors_of(f"errors/{name}")
    assert (error.file, error.message) == (f"errors/{name}", "the file is empty")


def test_a_top_level_that_is_not_a_mapping_is_an_error() -> None:
    [error] = errors_of("errors/top_level_list.yaml")
    assert error.line == 1
    assert "expected a mapping" in error.message
    assert "got a list" in error.message


def test_a_file_without_test_runs_is_an_error() -> None:
    [error] = errors_of("errors/no_test_runs.yaml")
    assert where(error) == ("errors/no_test_runs.yaml", None, "testRuns")
    assert error.hint is not None
    assert "testRuns: {}" in error.hint


def test_missing_required_fields_after_merging() -> None:
    errors = errors_of("errors/missing_fields.yaml", "errors/missing_probes.yaml")
    assert [where(e) for e in errors] == [
        ("errors/missing_fields.yaml", 4, "testRuns.no-workspace.workspaceId"),
        ("errors/missing_fields.yaml", 6, "testRuns.no-target-no-probes.targetId"),
        ("errors/missing_probes.yaml", 3, "testRuns.no-probes.probeIds"),
    ]


def test_explicit_nulls_are_refused() -> None:
    errors = errors_of("errors/nulls.yaml")
    assert [(e.line, e.field) for e in errors] == [
        (2, "defaults"),
        (5, "testRuns.chatbot.targetId"),
        (6, "testRuns.chatbot.probeIds[1]"),
        (7, "testRuns.chatbot.name"),
        (8, "testRuns.empty-run"),
    ]


def test_fields_in_the_wrong_place_and_collections_of_the_wrong_shape() -> None:
    errors = errors_of("errors/misplaced.yaml", "errors/misshapen.yaml")
    assert [(e.line, e.field, e.message, e.hint) for e in errors] == [
        (
            2,
            "targetId",
            "unknown field 'targetId'",
            "targetId belongs to a run under testRuns: (or in defaults:)",
        ),
        (
            4,
            "defaults.name",
            "unknown field 'name'",
            "name cannot be a default: each run's name defaults to its key",
        ),
        (
            5,
            "testRuns",
            "expected a mapping, got a list",
            "list the runs as a mapping under testRuns:; a file with no runs has testRuns: {}",
        ),
        (
            2,
            "defaults",
            "expected a mapping, got a list",
            "give defaults some fields (e.g. notifyWhenFinished: true) or remove the line",
        ),
        (
            7,
            "testRuns.chatbot.name",
            "cannot be empty",
            "remove the name line to use the run key, or write a name",
        ),
    ]


def test_bad_run_keys() -> None:
    errors = errors_of("errors/bad_keys.yaml")
    assert [(e.line, e.hint) for e in errors] == [
        (3, "rename it, e.g. chatbot-jailbreak:"),
        (4, "rename it, e.g. leading-dash:"),
        (5, "give the run a key, e.g. chatbot-jailbreak:"),
        (6, "rename it, e.g. unicode:"),
        (7, f"rename it, e.g. {'a' * 200}:"),
    ]


def test_unsupported_yaml_features_are_refused_once() -> None:
    errors = errors_of("errors/yaml_features.yaml")
    assert [(e.line, e.field) for e in errors] == [
        (2, "common"),
        (6, "testRuns.merged.<<"),
        (9, "testRuns.tagged.targetId"),
        (10, "testRuns.tagged.probeIds"),
    ]
    assert "merge keys" in errors[1].message


def test_a_run_with_a_merge_key_is_not_also_reported_incomplete(tmp_path: Path) -> None:
    spec = tmp_path / "merge.yaml"
    spec.write_text(
        "workspaceId: 1\n"
        "testRuns:\n"
        "  shared: &base {targetId: 42, probeIds: [1]}\n"
        "  x:\n"
        "    <<: *base\n"
        "  y: {name: Y}\n"
    )
    errors = errors_of(spec)
    assert [(e.line, e.field, e.message) for e in errors] == [
        (5, "testRuns.x.<<", "YAML merge keys (<<) are not supported"),
        # Another run's missing fields are still reported.
        (6, "testRuns.y.targetId", "required field is missing"),
        (6, "testRuns.y.probeIds", "required field is missing"),
    ]


def test_a_file_that_is_not_utf8() -> None:
    [error] = errors_of("errors/not_utf8.yaml")
    assert (error.line, error.message) == (3, "is not UTF-8 text")


def test_a_missing_path_is_named_with_a_hint() -> None:
    [error] = errors_of("no/such/dir")
    assert (error.file, error.message) == ("no/such/dir", "no such file or directory")
    assert error.hint is not None


def test_an_unreadable_file_is_an_error(tmp_path: Path) -> None:
    # A dangling symlink fails to read even for root, unlike a chmod 0 file.
    (tmp_path / "gone.yaml").symlink_to(tmp_path / "nowhere.yaml")
    [error] = errors_of(tmp_path)
    assert error.file == (tmp_path / "gone.yaml").as_posix()
    assert error.message == "cannot be read: No such file or directory"


def test_every_error_of_every_file_is_reported_in_one_pass() -> None:
    with pytest.raises(SpecValidationError) as info:
        load_specs(["errors", "valid", "missing.yaml"])
    errors = info.value.errors
    files = {e.file for e in errors}
    assert "missing.yaml" in files
    assert "errors/wrong_types.yaml" in files
    assert "errors/dup_across/b.yaml" in files
    assert not any(f and f.startswith("valid/") for f in files)
    text = str(info.value)
    assert text.startswith(f"{len(errors)} errors in spec files; nothing was sent:\n")
    # Files in the order they were read, each file's errors by line.
    order = [e.file for e in errors]
    assert order == sorted(order, key=order.index)
    wrong_types = [e.line or 0 for e in errors if e.file == "errors/wrong_types.yaml"]
    assert wrong_types == sorted(wrong_types)


def test_keys_of_a_file_with_errors_still_count_as_duplicates(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "workspaceId: 1\ntestRuns:\n  x: {targetId: true, probeIds: [1]}\n"
    )
    (tmp_path / "b.yaml").write_text(
        "workspaceId: 1\ntestRuns:\n  x: {targetId: 1, probeIds: [1]}\n"
    )
    errors = errors_of(tmp_path)
    assert [e.message for e in errors][-1].startswith("run key 'x' is already declared at")


def test_the_cycle_collector_is_restored_after_loading() -> None:
    load_specs(["valid"])
    assert gc.isenabled()
    errors_of("errors/wrong_types.yaml")
    assert gc.isenabled()
    gc.disable()
    try:
        load_specs(["valid"])
        assert not gc.isenabled()
    finally:
        gc.enable()
