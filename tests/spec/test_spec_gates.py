"""``gate:`` blocks in runs, ``defaults`` and ``reconciler.yaml``: merged, validated, never sent."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest

from reconciler.config import load_project_config
from reconciler.errors import SpecError, SpecValidationError
from reconciler.plan.diff import make_plan
from reconciler.results.gate import Gate
from reconciler.spec import load_specs
from reconciler.spec.schema import spec_json_schema
from reconciler.spec.yaml_loader import parse_yaml
from reconciler.state.model import State, TrackedRun

DATA = Path(__file__).resolve().parent.parent / "data" / "specs"


@pytest.fixture(autouse=True)
def _in_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(DATA)


def _errors(*paths: str, config: Path | None = None) -> list[SpecError]:
    with pytest.raises(SpecValidationError) as info:
        if config is not None:
            load_project_config(config, env={})
        load_specs(list(paths), env={})
    return info.value.errors


def test_the_most_specific_gate_wins_field_by_field() -> None:
    runs = load_specs(["gates/layered.yaml"], env={}).runs
    # The run sets a rate; maxFailed and failOn come from defaults.
    assert runs["own-rate"].gate == Gate(max_failed=3, max_failed_rate=0.1, fail_on=("Error",))
    # The run's own maxFailed and failOn beat the defaults'; statuses in any case, canonical.
    assert runs["own-count"].gate == Gate(max_failed=0, fail_on=("Error", "Canceled", "Finished"))
    assert runs["from-defaults"].gate == Gate(max_failed=3, fail_on=("Error",))
    # Every run a matrix makes carries the matrix run's gate.
    made = [key for key in runs if key.startswith("matrix-run[")]
    assert len(made) == 2
    assert all(
        runs[k].gate == Gate(max_failed=3, fail_on=("Error",), max_failed_increase=0) for k in made
    )


def test_the_project_config_gate_is_below_defaults_and_runs() -> None:
    config = load_project_config(DATA / "gate-config" / "reconciler.yaml", env={})
    runs = load_specs(["gates/layered.yaml"], env={}, config=config).runs
    # maxErrored only in the config; maxFailed of the config loses to the file's defaults.
    assert runs["from-defaults"].gate == Gate(max_failed=3, max_errored=5, fail_on=("Error",))
    assert runs["own-count"].gate.max_failed == 0
    assert runs["own-count"].gate.max_errored == 5


def test_a_run_without_any_gate_gets_the_default_gate() -> None:
    runs = load_specs(["valid/product.yaml"], env={}).runs
    assert all(run.gate == Gate() for run in runs.values())
    assert Gate().fail_on_statuses == ("Error", "Canceled")


def test_bad_gate_values_name_file_line_field_and_fix() -> None:
    found = {(e.line, e.field): e for e in _errors("gates/bad.yaml")}
    expected = {
        (6, "defaults.gate.maxErrored"): ("-2 is negative", "write 0 to allow none"),
        (10, "testRuns.negative.gate.maxFailed"): ("-1 is negative", "write 0"),
        (13, "testRuns.rate.gate.maxFailedRate"): ("1.5 is not between 0 and 1", "0.05 for 5%"),
        (16, "testRuns.status.gate.failOn[0]"): (
            "'Running' is not a status a run ends with",
            "Canceled, Error, Finished",
        ),
        (19, "testRuns.unknown.gate.maxFaild"): (
            "unknown field 'maxFaild'",
            "did you mean maxFailed?",
        ),
        (21, "testRuns.not-a-mapping.gate"): ("expected a mapping, got 4", "gate: {maxFailed: 0}"),
        (24, "testRuns.quoted.gate.maxFailedIncrease"): (
            "expected a whole number of test cases, got '2' (a string)",
            "write a count",
        ),
        (27, "testRuns.empty.gate.maxFailed"): ("has no value", "give it a value"),
    }
    assert set(found) == set(expected)
    for where, (message, hint) in expected.items():
        error = found[where]
        assert error.file == "gates/bad.yaml"
        assert message in error.message, where
        assert error.hint is not None and hint in error.hint, where


def test_a_bad_gate_in_the_project_config_is_reported_against_it() -> None:
    path = DATA / "gate-config" / "bad.yaml"
    with pytest.raises(SpecValidationError) as info:
        load_project_config(path, env={})
    found = {e.field: e for e in info.value.errors}
    assert set(found) == {"gate.maxFailedRate", "gate.failOn"}
    assert found["gate.maxFailedRate"].line == 2
    assert "2 is not between 0 and 1" in found["gate.maxFailedRate"].message
    assert found["gate.failOn"].line == 3
    assert "expected a list" in found["gate.failOn"].message
    assert "in the project config" in str(info.value)


def test_a_gate_edit_changes_neither_checksum_nor_plan(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    base = "workspaceId: 1\ntestRuns:\n  a:\n    targetId: 2\n    probeIds: [3]\n"
    spec.write_text(base)
    before = load_specs([spec], env={})
    spec.write_text(base + "    gate:\n      maxFailed: 0\n      failOn: [Finished]\n")
    after = load_specs([spec], env={})
    assert after.runs["a"].gate.max_failed == 0  # the edit was read ...
    assert after.checksum == before.checksum  # ... and a saved plan stays fresh
    run = before.runs["a"]
    state = State.new().with_runs(
        {"a": TrackedRun(test_run_id=7, attributes=run.attributes, triggered_at="2024-01-01Z")}
    )
    plan = make_plan(after, state)
    assert not plan.has_changes


def test_the_json_schema_accepts_gates_and_refuses_bad_ones() -> None:
    schema = spec_json_schema()
    validator = jsonschema.Draft202012Validator(schema)
    good = parse_yaml((DATA / "gates" / "layered.yaml").read_text(), "layered.yaml").data
    validator.validate(good)

    def refused(gate: object) -> bool:
        doc = {"testRuns": {"a": {"gate": gate}}}
        return not validator.is_valid(doc)

    assert refused({"maxFailed": -1})
    assert refused({"maxFailedRate": 1.5})
    assert refused({"failOn": ["Running"]})
    assert refused({"maxFaild": 1})
    assert not refused({"maxFailed": "${MAX_FAILED}", "failOn": ["ERROR", "canceled"]})
    assert "gate" in schema["$defs"]["Defaults"]["properties"]
