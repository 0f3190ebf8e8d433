"""The spec language beyond plain runs: probe sets, matrices, revision, moved, ${VAR}."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from reconciler.config import load_project_config
from reconciler.errors import SpecError, SpecValidationError
from reconciler.records import RunAttributes
from reconciler.spec import DesiredSet, load_specs
from reconciler.spec.model import Move, ProbeSet

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def write(name: str, text: str) -> str:
    Path(name).parent.mkdir(parents=True, exist_ok=True)
    Path(name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return name


def load(*names: str, env: dict[str, str] | None = None) -> DesiredSet:
    return load_specs(list(names), env=env or {})


def errors(*names: str, env: dict[str, str] | None = None) -> list[SpecError]:
    with pytest.raises(SpecValidationError) as info:
        load(*names, env=env)
    return info.value.errors


def brief(error: SpecError) -> tuple[str | None, int | None, str | None, str]:
    return error.file, error.line, error.field, error.message


# --- probe sets ------------------------------------------------------------------------------


def test_probe_sets_stand_for_their_ids_beside_plain_ids() -> None:
    write(
        "a.yaml",
        """
        workspaceId: 1
        probeSets:
          jailbreak: [102, 101]
          injection: [201]
        defaults:
          probeIds: [injection]
        testRuns:
          mixed:
            targetId: 42
            probeIds: [jailbreak, 107, 101]
          from-defaults:
            targetId: 42
        """,
    )
    runs = load("a.yaml").runs
    assert runs["mixed"].attributes.probe_ids == (101, 102, 107)
    assert runs["from-defaults"].attributes.probe_ids == (201,)


def test_project_config_sets_are_shared_and_a_file_cannot_redefine_them() -> None:
    write("a.yaml", "workspaceId: 1\ntestRuns:\n  x: {targetId: 1, probeIds: [shared]}\n")
    write("b.yaml", "probeSets:\n  shared: [9]\ntestRuns: {}\n")
    shared = {"shared": ProbeSet("shared", (5, 6), "reconciler.yaml:3")}
    from reconciler.config import ProjectConfig

    config = ProjectConfig(probeSets={"shared": [5, 6]})
    config._set_lines = {"shared": 3}
    assert config.probe_set_defs() == shared
    with pytest.raises(SpecValidationError) as info:
        load_specs(["a.yaml", "b.yaml"], env={}, config=config)
    (error,) = info.value.errors
    assert brief(error) == (
        "b.yaml",
        2,
        "probeSets.shared",
        "probe set 'shared' is already defined at reconciler.yaml:3",
    )
    desired = load_specs(["a.yaml"], env={}, config=config)
    assert desired.runs["x"].attributes.probe_ids == (5, 6)


def test_a_files_probe_sets_do_not_leak_into_other_files() -> None:
    write("a.yaml", "probeSets:\n  mine: [1]\ntestRuns: {}\n")
    write("b.yaml", "workspaceId: 1\ntestRuns:\n  x:\n    targetId: 1\n    probeIds: [mine]\n")
    (error,) = errors("a.yaml", "b.yaml")
    assert brief(error) == ("b.yaml", 5, "testRuns.x.probeIds[0]", "unknown probe set 'mine'")
    assert error.hint == "define it under probeSets: in this file or in reconciler.yaml"


def test_unknown_set_names_suggest_the_closest_and_list_the_known_ones() -> None:
    write(
        "a.yaml",
        """
        workspaceId: 1
        probeSets: {jailbreak: [1], injection: [2]}
        testRuns:
          x: {targetId: 1, probeIds: [101, jailbrake]}
        """,
    )
    (error,) = errors("a.yaml")
    assert brief(error) == ("a.yaml", 4, "testRuns.x.probeIds[1]", "unknown probe set 'jailbrake'")
    assert error.hint == "did you mean jailbreak? the probe sets are: injection, jailbreak"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("'bad name'", "'bad name' is neither a probe id nor a probe set name"),
        ("'102'", "expected an integer, got '102' (a string)"),
        ("true", "expected an integer, got true (a boolean)"),
        ("4294967296", "4294967296 is out of range"),
    ],
)
def test_probe_ids_entries_that_are_neither_id_nor_set_name_get_one_error(
    value: str, message: str
) -> None:
    write(
        "a.yaml", f"workspaceId: 1\ntestRuns:\n  x:\n    targetId: 1\n    probeIds: [1, {value}]\n"
    )
    (error,) = errors("a.yaml")
    assert (error.line, error.field) == (5, "testRuns.x.probeIds[1]")
    assert error.message.startswith(message)


def test_probe_set_names_and_values_are_checked() -> None:
    write("a.yaml", "probeSets:\n  '1x': [1]\n  ok: [true]\ntestRuns: {}\n")
    found = {(e.line, e.field): e.message for e in errors("a.yaml")}
    assert found[(2, "probeSets.1x")].startswith("probe set name '1x' is not allowed")
    assert found[(3, "probeSets.ok[0]")] == "expected an integer, got true (a boolean)"


# --- probeIds: null, the target's configured probes ----------------------------------------


def test_probe_ids_null_means_the_targets_configured_probes_and_differs_from_empty() -> None:
    write(
        "a.yaml",
        """
        workspaceId: 1
        probeSets:
          platform: null
          jailbreak: [101]
        defaults:
          targetId: 42
          probeIds: null
        testRuns:
          written: {probeIds: null}
          from-defaults: {}
          own-list: {probeIds: [jailbreak, 7]}
          empty: {probeIds: []}
          from-set: {probeIds: [platform]}
          grid:
            matrix: {probeIds: [platform, jailbreak]}
        """,
    )
    runs = {key: run.attributes.probe_ids for key, run in load("a.yaml").runs.items()}
    assert runs == {
        "written": None,
        "from-defaults": None,
        "own-list": (7, 101),
        "empty": (),
        "from-set": None,
        "grid[probeIds=platform]": None,
        "grid[probeIds=jailbreak]": (101,),
    }
    body = load("a.yaml").runs["written"].attributes.trigger_body()
    assert body["probeIds"] is None
    assert json.loads(json.dumps(body))["probeIds"] is None


def test_probe_ids_null_must_be_written_out_and_a_null_set_stands_alone() -> None:
    write(
        "a.yaml",
        """
        workspaceId: 1
        probeSets: {platform: null, half-done: ~}
        testRuns:
          blank:
            targetId: 1
            probeIds:
          tilde: {targetId: 1, probeIds: ~}
          variable: {targetId: 1, probeIds: ${EMPTY}}
          mixed: {targetId: 1, probeIds: [platform, 7]}
          both: {targetId: 1, probeIds: null, matrix: {probeIds: [platform]}}
        """,
    )
    found = {e.line: (e.field, e.message, e.hint) for e in errors("a.yaml", env={"EMPTY": ""})}
    hint = (
        "write null (the word itself) for the probes configured for the target on the "
        "platform, or list probe ids, e.g. [101, 102]"
    )
    assert found[2] == ("probeSets.half-done", "a value is required here, got nothing", hint)
    assert found[6] == ("testRuns.blank.probeIds", "a value is required here, got nothing", hint)
    assert found[7][:2] == ("testRuns.tilde.probeIds", "a value is required here, got nothing")
    assert found[8][:2] == ("testRuns.variable.probeIds", "a value is required here, got nothing")
    assert found[9][:2] == (
        "testRuns.mixed.probeIds[0]",
        "probe set 'platform' stands for the target's configured probes (a.yaml:2): "
        "it cannot be combined with other ids or sets",
    )
    assert found[10][:2] == (
        "testRuns.both.matrix.probeIds",
        "probeIds is set both on the run and in its matrix",
    )


def test_project_config_probe_sets_may_be_null() -> None:
    write("reconciler.yaml", "probeSets:\n  platform:\n  jailbreak: [2, 1]\n")
    with pytest.raises(SpecValidationError) as info:
        load_project_config(Path("reconciler.yaml"), env={})
    (error,) = info.value.errors
    assert brief(error) == (
        "reconciler.yaml",
        2,
        "probeSets.platform",
        "a value is required here, got nothing",
    )
    write("reconciler.yaml", "probeSets: {platform: null, jailbreak: [2, 1]}\n")
    write("specs/a.yaml", "workspaceId: 1\ntestRuns:\n  a: {targetId: 1, probeIds: [platform]}\n")
    config = load_project_config(Path("reconciler.yaml"), env={})
    assert config.probe_set_defs()["jailbreak"].ids == (1, 2)
    assert load_specs(["specs"], env={}, config=config).runs["a"].attributes.probe_ids is None


# --- matrices --------------------------------------------------------------------------------

MATRIX = """
workspaceId: 1
probeSets: {jailbreak: [101, 102], injection: [201]}
testRuns:
  nightly:
    name: "Nightly {targetId} ({probeIds})"
    matrix:
      targetId: [42, 43]
      probeIds: [jailbreak, injection]
    runAiAnalysis: true
"""


def test_a_matrix_expands_into_one_run_per_combination_with_derived_keys_and_names() -> None:
    write("m.yaml", MATRIX)
    runs = load("m.yaml").runs
    assert sorted(runs) == [
        "nightly[probeIds=injection,targetId=42]",
        "nightly[probeIds=injection,targetId=43]",
        "nightly[probeIds=jailbreak,targetId=42]",
        "nightly[probeIds=jailbreak,targetId=43]",
    ]
    run = runs["nightly[probeIds=jailbreak,targetId=43]"]
    assert run.attributes == RunAttributes(
        workspace_id=1,
        target_id=43,
        probe_ids=(101, 102),
        name="Nightly 43 (jailbreak)",
        run_ai_analysis=True,
    )
    assert run.source == "m.yaml:4"


def test_matrix_values_of_every_axis_and_default_names() -> None:
    write(
        "m.yaml",
        """
        testRuns:
          r:
            targetId: 7
            matrix:
              workspaceId: [1, 2]
              probeIds: [[5, 4]]
              revision: [3]
              runAiAnalysis: [false]
              notifyWhenFinished: [true]
        """,
    )
    runs = load("m.yaml").runs
    key = "r[notifyWhenFinished=true,probeIds=5_4,revision=3,runAiAnalysis=false,workspaceId=2]"
    assert len(runs) == 2
    assert runs[key].attributes == RunAttributes(
        workspace_id=2,
        target_id=7,
        probe_ids=(4, 5),
        name=key,
        notify_when_finished=True,
        revision=3,
    )


def test_matrix_errors_name_file_and_line() -> None:
    write(
        "m.yaml",
        """
        workspaceId: 1
        testRuns:
          both:
            targetId: 1
            probeIds: [1]
            matrix: {targetId: [2, 3]}
          empty:
            targetId: 1
            probeIds: [1]
            matrix: {}
          twice:
            probeIds: [1]
            matrix: {targetId: [2, 2]}
          placeholder:
            name: "Run {target}"
            probeIds: [1]
            matrix: {targetId: [2]}
          braces:
            name: "Run {"
            probeIds: [1]
            matrix: {targetId: [2]}
          badkey:
            targetId: 1
            probeIds: [1]
            matrix: {revision: ["a b"]}
        """,
    )
    found = {e.line: (e.field, e.message) for e in errors("m.yaml")}
    assert found[6] == (
        "testRuns.both.matrix.targetId",
        "targetId is set both on the run and in its matrix",
    )
    assert found[10] == ("testRuns.empty.matrix", "a matrix needs at least one axis")
    assert found[13] == (
        "testRuns.twice.matrix.targetId[1]",
        "the value 2 appears twice in this axis",
    )
    assert found[15] == ("testRuns.placeholder.name", "unknown placeholder {target} in the name")
    assert found[19] == ("testRuns.braces.name", "the name has an unmatched { or }")
    assert found[25][1].startswith("the matrix makes the run key 'badkey[revision=a b]'")
    write(
        "n.yaml", "workspaceId: 1\ntestRuns:\n  n:\n    probeIds: [1]\n    matrix: {targetId: []}\n"
    )
    (error,) = errors("n.yaml")
    assert brief(error) == ("n.yaml", 5, "testRuns.n.matrix.targetId", "needs at least one value")


def test_a_matrix_larger_than_the_limit_is_an_error_before_it_is_expanded() -> None:
    # 100 x 100 x 100 = 1,000,000 combinations: refused from the axis lengths alone.
    axis = ", ".join(str(i) for i in range(1, 101))
    write(
        "big.yaml",
        f"""
        workspaceId: 1
        testRuns:
          small:
            probeIds: [1]
            matrix: {{targetId: [1, 2]}}
          huge:
            probeIds: [1]
            matrix:
              targetId: [{axis}]
              workspaceId: [{axis}]
              revision: [{axis}]
        """,
    )
    (error,) = errors("big.yaml")
    assert brief(error)[:3] == ("big.yaml", 8, "testRuns.huge.matrix")
    assert error.message == (
        "the matrix of 'huge' would make 1,000,000 runs (100 revision x 100 targetId x "
        "100 workspaceId), more than the limit (maxMatrixRuns, by default 1,000); "
        "nothing was expanded"
    )
    assert "raise maxMatrixRuns in reconciler.yaml" in (error.hint or "")


def test_the_matrix_limit_is_set_in_the_project_config() -> None:
    write(
        "specs/m.yaml",
        """
        workspaceId: 1
        testRuns:
          m:
            probeIds: [1]
            matrix: {targetId: [1, 2, 3]}
        """,
    )
    write("reconciler.yaml", "specs: specs\nmaxMatrixRuns: 2\n")
    config = load_project_config(Path("reconciler.yaml"), env={})
    with pytest.raises(SpecValidationError) as info:
        load_specs(["specs"], env={}, config=config)
    (error,) = info.value.errors
    assert brief(error)[:3] == ("specs/m.yaml", 5, "testRuns.m.matrix")
    assert "(maxMatrixRuns: 2 at reconciler.yaml:2)" in error.message
    write("reconciler.yaml", "maxMatrixRuns: 3\n")
    config = load_project_config(Path("reconciler.yaml"), env={})
    assert len(load_specs(["specs"], env={}, config=config).runs) == 3
    write("reconciler.yaml", "maxMatrixRuns: 0\n")
    with pytest.raises(SpecValidationError) as info:
        load_project_config(Path("reconciler.yaml"), env={})
    assert [(e.line, e.field) for e in info.value.errors] == [(1, "maxMatrixRuns")]


def test_braces_in_names_of_plain_runs_are_literal() -> None:
    write("a.yaml", "workspaceId: 1\ntestRuns:\n  x: {targetId: 1, probeIds: [1], name: 'a {b}'}\n")
    assert load("a.yaml").runs["x"].attributes.name == "a {b}"


def test_expanded_keys_colliding_with_other_keys_are_errors_naming_both_places() -> None:
    write(
        "a.yaml",
        """
        workspaceId: 1
        testRuns:
          n:
            probeIds: [1]
            matrix: {targetId: [1, 2]}
          n[targetId=2]:
            targetId: 5
            probeIds: [1]
        """,
    )
    write("b.yaml", "workspaceId: 1\ntestRuns:\n  n[targetId=1]: {targetId: 1, probeIds: [1]}\n")
    found = [brief(e) for e in errors("a.yaml", "b.yaml")]
    assert found == [
        (
            "a.yaml",
            6,
            "testRuns.n[targetId=2]",
            "run key 'n[targetId=2]' is already declared at a.yaml:3",
        ),
        (
            "b.yaml",
            3,
            "testRuns.n[targetId=1]",
            "run key 'n[targetId=1]' is already declared at a.yaml:3",
        ),
    ]


# --- revision --------------------------------------------------------------------------------


def test_revision_is_an_int_or_text_from_the_run_or_defaults_and_never_sent() -> None:
    write(
        "a.yaml",
        """
        workspaceId: 1
        defaults: {revision: 1, targetId: 1, probeIds: [1]}
        testRuns:
          a: {}
          b: {revision: "2024-06-rerun"}
        """,
    )
    runs = load("a.yaml").runs
    assert runs["a"].attributes.revision == 1
    assert runs["b"].attributes.revision == "2024-06-rerun"
    assert "revision" not in runs["b"].attributes.trigger_body()
    assert len(runs["b"].attributes.trigger_body()) == 5


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("true", "expected an integer or text, got true (a boolean)"),
        ("''", "cannot be empty"),
        ("[1]", "expected an integer or text, got a list"),
    ],
)
def test_bad_revisions_are_refused(value: str, message: str) -> None:
    write(
        "a.yaml",
        "workspaceId: 1\ntestRuns:\n  x:\n    targetId: 1\n    probeIds: [1]\n"
        f"    revision: {value}\n",
    )
    (error,) = errors("a.yaml")
    assert (error.line, error.field, error.message) == (6, "testRuns.x.revision", message)


# --- moved -----------------------------------------------------------------------------------


def test_moved_entries_are_collected_with_their_lines() -> None:
    write(
        "a.yaml",
        """
        workspaceId: 1
        testRuns:
          new: {targetId: 1, probeIds: [1]}
        moved:
          - from: old
            to: new
        """,
    )
    assert load("a.yaml").moves == (Move("old", "new", "a.yaml", 5),)


def test_runs_without_a_name_are_named_after_their_key_and_marked_defaulted() -> None:
    write(
        "a.yaml",
        """
        workspaceId: 1
        testRuns:
          plain: {targetId: 1, probeIds: [1]}
          named: {targetId: 1, probeIds: [1], name: named}
          grid:
            probeIds: [1]
            matrix: {targetId: [1]}
          titled:
            name: "Titled {targetId}"
            probeIds: [1]
            matrix: {targetId: [1]}
        moved:
          - {from: old-plain, to: plain}
          - {from: old-named, to: named}
          - {from: 'old[targetId=1]', to: 'grid[targetId=1]'}
        """,
    )
    runs = load("a.yaml").runs
    # The loader never looks at the state: a moved run keeps its tracked name in the planner.
    found = {key: (run.attributes.name, run.name_defaulted) for key, run in runs.items()}
    assert found == {
        "plain": ("plain", True),
        "named": ("named", False),
        "grid[targetId=1]": ("grid[targetId=1]", True),
        "titled[targetId=1]": ("Titled 1", False),
    }


def test_bad_moves_are_errors() -> None:
    write(
        "a.yaml",
        """
        workspaceId: 1
        testRuns:
          a: {targetId: 1, probeIds: [1]}
          b: {targetId: 1, probeIds: [1]}
          c: {targetId: 1, probeIds: [1]}
        moved:
          - {from: gone, to: nowhere}
          - {from: a, to: b}
          - {from: x, to: c}
          - {from: x, to: b}
          - {from: y, to: c}
          - {from: z, to: z}
          - {from: c, to: a}
          - {from: 'bad key', to: a}
        """,
    )
    found = {e.line: e.message for e in errors("a.yaml")}
    assert found == {
        14: (
            "run key 'bad key' is not allowed: use only letters, digits and -_.:/[]=, "
            "(at most 200 characters), starting with a letter or digit"
        )
    }
    write("a.yaml", Path("a.yaml").read_text().replace("  - {from: 'bad key', to: a}\n", ""))
    found = {e.line: e.message for e in errors("a.yaml")}
    assert found == {
        7: "the target 'nowhere' is not a run key of the specs",
        8: "'a' is still declared at a.yaml:3",
        9: "'c' is moved on again at a.yaml:13",
        10: "'x' is already moved at a.yaml:9",
        11: "'c' is already the target of the move at a.yaml:9",
        12: "a move from a key to itself",
        13: "'c' is still declared at a.yaml:5",
    }


def test_chains_and_cycles_of_moves_are_errors() -> None:
    write(
        "a.yaml",
        """
        workspaceId: 1
        testRuns:
          c: {targetId: 1, probeIds: [1]}
        moved:
          - {from: a, to: b}
          - {from: b, to: c}
        """,
    )
    (error,) = errors("a.yaml")
    assert (error.line, error.message) == (5, "'b' is moved on again at a.yaml:6")
    assert error.hint is not None
    assert "one move from 'a' to 'c'" in error.hint
    write("b.yaml", "workspaceId: 1\ntestRuns:\n  b: {targetId: 1, probeIds: [1]}\n")
    found = [e.message for e in errors("a.yaml", "b.yaml")]
    assert found == ["'b' is moved on again at a.yaml:6", "'b' is still declared at b.yaml:3"]
    write(
        "a.yaml",
        "workspaceId: 1\ntestRuns: {}\nmoved:\n  - {from: a, to: b}\n  - {from: b, to: a}\n",
    )
    write(
        "b.yaml",
        "workspaceId: 1\ntestRuns:\n"
        "  a: {targetId: 1, probeIds: [1]}\n  b: {targetId: 1, probeIds: [1]}\n",
    )
    found = [e.message for e in errors("a.yaml", "b.yaml")]
    assert found == ["'a' is still declared at b.yaml:3", "'b' is still declared at b.yaml:4"]


# --- ${VAR} ----------------------------------------------------------------------------------

ENV_SPEC = """
workspaceId: ${WS}
testRuns:
  x:
    targetId: ${TARGET:-42}
    probeIds:        # block style; flow lists work too (below)
      - ${PROBE}
      - 7
    name: "Sweep ${STAGE:-dev} $${literal}"
    runAiAnalysis: ${AI:-false}
"""


def test_variables_are_interpolated_and_read_as_if_written_literally() -> None:
    write("a.yaml", ENV_SPEC)
    run = load("a.yaml", env={"WS": "1234", "PROBE": "101", "STAGE": "prod"}).runs["x"]
    assert run.attributes == RunAttributes(
        workspace_id=1234,
        target_id=42,
        probe_ids=(7, 101),
        name="Sweep prod ${literal}",
    )


def test_unset_variables_and_type_errors_name_file_line_and_variable() -> None:
    write("a.yaml", ENV_SPEC)
    found = {e.line: (e.field, e.message) for e in errors("a.yaml", env={"WS": "abc"})}
    assert found == {
        1: ("workspaceId", "expected an integer, got 'abc' (a string), from ${WS}"),
        6: ("testRuns.x.probeIds[0]", "environment variable PROBE is not set"),
    }


def test_an_unset_variable_in_a_matrix_name_is_one_error_not_two() -> None:
    write(
        "a.yaml",
        """
        workspaceId: 1
        testRuns:
          grid:
            name: "Grid ${UNSET} {targetId}"
            probeIds: [1]
            matrix: {targetId: [1, 2]}
          escaped:
            name: "Escaped $${literal} {targetId}"
            probeIds: [1]
            matrix: {targetId: [1]}
        """,
    )
    assert [(e.line, e.field, e.message) for e in errors("a.yaml")] == [
        (4, "testRuns.grid.name", "environment variable UNSET is not set"),
        # Written as a literal ${...}: the braces are a placeholder, and an unknown one.
        (8, "testRuns.escaped.name", "unknown placeholder {literal} in the name"),
    ]


@pytest.mark.parametrize("secret", ["SPLX_API_KEY", "PGPASSWORD"])
def test_secret_variables_are_refused_and_their_values_never_shown(secret: str) -> None:
    write(
        "a.yaml",
        f"""
        workspaceId: 1
        testRuns:
          x:
            targetId: 1
            probeIds: [1]
            name: "run by ${{{secret}:-nobody}}"
        """,
    )
    with pytest.raises(SpecValidationError) as info:
        load("a.yaml", env={secret: "hunter2-secret-value"})
    (error,) = info.value.errors
    assert (error.file, error.line, error.field) == ("a.yaml", 6, "testRuns.x.name")
    assert error.message == (
        f"environment variable {secret} holds a secret: secrets may not be used in specs"
    )
    assert "hunter2" not in str(info.value)
    # Escaped, it is literal text, not a reference.
    write("a.yaml", Path("a.yaml").read_text().replace("${", "$${"))
    assert load("a.yaml").runs["x"].attributes.name == f"run by ${{{secret}:-nobody}}"


def test_variables_work_in_flow_lists_and_mappings_quoted_or_not() -> None:
    write(
        "a.yaml",
        """
        workspaceId: ${WS}
        defaults: {targetId: ${TARGET}, runAiAnalysis: ${AI:-true}}
        testRuns:
          x: {probeIds: [${PROBE}, 7, "${SET}"], name: "${NAME}"}
          y: {probeIds: [${MISSING:-8}], name: ${NAME}}
        """,
    )
    env = {"WS": "1", "TARGET": "42", "PROBE": "101", "SET": "jailbreak", "NAME": "a: b ] #c"}
    text = Path("a.yaml").read_text().replace("testRuns:", "probeSets: {jailbreak: [5]}\ntestRuns:")
    Path("a.yaml").write_text(text)
    runs = load("a.yaml", env=env).runs
    # A whole-scalar ${PROBE} resolving to 101 is an id; quoted "${SET}" is text (a set name).
    assert runs["x"].attributes == RunAttributes(
        workspace_id=1, target_id=42, probe_ids=(5, 7, 101), name="a: b ] #c", run_ai_analysis=True
    )
    # A value holding YAML syntax (": ", "]", " #") is taken whole: it cannot split the list
    # or start a comment, because it is substituted after parsing.
    assert runs["y"].attributes.name == "a: b ] #c"
    assert runs["y"].attributes.probe_ids == (8,)


def test_a_variable_in_a_flow_list_is_one_value_and_errors_keep_their_lines() -> None:
    write(
        "a.yaml",
        """
        workspaceId: 1
        testRuns:
          x: {targetId: 1, probeIds: [7, ${PROBES}]}
          y: {targetId: ${UNSET}, probeIds: [1]}
        """,
    )
    found = {e.line: (e.field, e.message) for e in errors("a.yaml", env={"PROBES": "1, 2]"})}
    assert found == {
        3: (
            "testRuns.x.probeIds[1]",
            "'1, 2]' is neither a probe id nor a probe set name, from ${PROBES}",
        ),
        4: ("testRuns.y.targetId", "environment variable UNSET is not set"),
    }


def test_quoted_variables_stay_text_and_malformed_references_are_errors() -> None:
    write(
        "a.yaml",
        'workspaceId: "${WS}"\ntestRuns:\n  x: {targetId: 1, probeIds: [1], name: "${oops"}\n',
    )
    found = {e.line: e.message for e in errors("a.yaml", env={"WS": "1"})}
    assert found[1] == "expected an integer, got '1' (a string), from ${WS}"
    assert found[3] == "malformed variable reference '${oops'"


def test_the_checksum_covers_the_values_of_variables() -> None:
    write("a.yaml", ENV_SPEC)
    one = load("a.yaml", env={"WS": "1", "PROBE": "1"}).checksum
    same = load("a.yaml", env={"WS": "1", "PROBE": "1", "OTHER": "x"}).checksum
    other = load("a.yaml", env={"WS": "1", "PROBE": "2"}).checksum
    assert one == same != other


# --- old specs are read exactly as before ------------------------------------------------


def test_plain_spec_files_load_without_revision() -> None:
    files = sorted((ROOT / "specs" / "examples").glob("*.yaml"))
    plain = [f for f in files if "revision" not in f.read_text() and "$" not in f.read_text()]
    desired = load_specs(plain)
    assert desired.moves == ()
    assert all(run.attributes.revision is None for run in desired.runs.values())


def test_old_specs_against_state_written_before_revision_existed_plan_no_changes() -> None:
    from reconciler.plan.diff import make_plan
    from reconciler.state.codec import decode_state

    desired = load_specs([ROOT / "specs" / "examples" / "nightly.yaml"], env={})
    old_state = {
        "version": 1,
        "lineage": "l",
        "serial": 1,
        "runs": {
            key: {
                "status": "triggered",
                "testRunId": index,
                # Exactly the six attributes earlier versions wrote: no revision key.
                "attributes": run.attributes.wire(),
                "triggeredAt": "2024-01-01T00:00:00Z",
                "note": "",
            }
            for index, (key, run) in enumerate(desired.runs.items(), start=1)
        },
    }
    assert all(len(r["attributes"]) == 6 for r in old_state["runs"].values())  # type: ignore[attr-defined]
    state = decode_state(json.dumps(old_state).encode(), "old")
    plan = make_plan(desired, state)
    assert not plan.has_changes
