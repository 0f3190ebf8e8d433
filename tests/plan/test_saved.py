"""Saved plans: round trip, determinism, atomic writes, corrupt files, staleness."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.errors import PlanError, StalePlanError
from reconciler.plan.model import Plan
from reconciler.plan.saved import (
    SAVED_PLAN_VERSION,
    check_fresh,
    dumps_plan,
    load_plan,
    save_plan,
)
from reconciler.spec.model import DesiredSet
from reconciler.state.model import State
from tests.factories import attrs, result_of, tracked
from tests.plan.factories import CHECKSUM, LINEAGE, desired, drun, state
from tests.plan.samples import empty_plan, mixed_plan, retrigger_plan


@pytest.mark.parametrize("make", [mixed_plan, empty_plan, retrigger_plan])
def test_round_trip_gives_back_the_same_plan(tmp_path: Path, make: Callable[[], Plan]) -> None:
    plan = make()
    path = tmp_path / "plan.json"
    save_plan(plan, path)
    assert load_plan(path) == plan


def test_saved_file_is_deterministic_versioned_json(tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    save_plan(mixed_plan(), first)
    save_plan(mixed_plan(), second)
    assert first.read_bytes() == second.read_bytes()
    data = json.loads(first.read_text())
    assert data["format"] == "reconciler-saved-plan"
    assert data["version"] == SAVED_PLAN_VERSION
    assert data["plan"]["state"] == {"lineage": LINEAGE, "serial": 7}


def test_saved_file_holds_no_secret_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPLX_API_KEY", "sk-very-secret-token")
    path = tmp_path / "plan.json"
    save_plan(mixed_plan(), path)
    assert "sk-very-secret-token" not in path.read_text()


def test_save_replaces_an_existing_file_and_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text("old")
    save_plan(empty_plan(), path)
    assert load_plan(path) == empty_plan()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json"]


def test_save_into_a_missing_directory_is_a_plan_error(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match=r"cannot write plan file .*missing"):
        save_plan(empty_plan(), tmp_path / "missing" / "plan.json")


def test_failed_rename_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "plan.json"
    target.mkdir()  # os.replace of a file onto a directory fails
    with pytest.raises(PlanError, match="cannot write plan file"):
        save_plan(empty_plan(), target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json"]


# --- corrupt and foreign files --------------------------------------------------------------


def valid_envelope() -> dict[str, object]:
    loaded: dict[str, object] = json.loads(dumps_plan(mixed_plan()))
    return loaded


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "invalid JSON at line 1"),
        ("[]", 'no "format": "reconciler-saved-plan" marker'),
        ('{"version": 1, "lineage": "x", "serial": 1, "runs": {}}', "marker"),
        ('{"format": "reconciler-saved-plan", "version": 2}', "plan: Field required"),
    ],
)
def test_corrupt_or_foreign_file_is_a_plan_error(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "plan.json"
    path.write_text(content)
    with pytest.raises(PlanError) as err:
        load_plan(path)
    text = str(err.value)
    assert str(path) in text
    assert message in text
    assert "reconciler plan --out FILE" in text


def test_a_tampered_run_is_refused(tmp_path: Path) -> None:
    envelope = valid_envelope()
    envelope["plan"]["runs"][0]["after"]["targetId"] = "42"  # type: ignore[index]
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(envelope))
    with pytest.raises(PlanError, match=r"plan\.runs\[0\]\.after"):
        load_plan(path)


def test_mismatched_action_lists_are_refused(tmp_path: Path) -> None:
    envelope = valid_envelope()
    envelope["plan"]["runs"][0]["actions"] = ["delete"]  # type: ignore[index]
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(envelope))
    with pytest.raises(PlanError, match="chatbot-jailbreak: actions do not match trigger"):
        load_plan(path)


def test_plan_from_a_newer_reconciler_is_refused(tmp_path: Path) -> None:
    envelope = valid_envelope()
    envelope["version"] = SAVED_PLAN_VERSION + 1
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(envelope))
    with pytest.raises(PlanError, match="written by a newer reconciler"):
        load_plan(path)


def test_missing_and_binary_files_are_plan_errors(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="cannot read plan file"):
        load_plan(tmp_path / "nope.json")
    binary = tmp_path / "plan.bin"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(PlanError, match="not UTF-8"):
        load_plan(binary)


# --- staleness ------------------------------------------------------------------------------


def current() -> tuple[Plan, State, DesiredSet]:
    want = desired(drun("a"))
    have = state({"a": tracked(attrs(name="a"), 1)}, serial=7)
    plan = mixed_plan()  # made against LINEAGE, serial 7, CHECKSUM
    return plan, have, want


def test_fresh_plan_passes() -> None:
    check_fresh(*current())


def test_moved_serial_makes_the_plan_stale() -> None:
    plan, have, want = current()
    moved = have.model_copy(update={"serial": 8})
    with pytest.raises(StalePlanError) as err:
        check_fresh(plan, moved, want, plan_file="out.plan")
    assert "serial 7 → 8" in str(err.value)
    assert "reconciler plan --out out.plan" in str(err.value)


def test_results_recorded_since_the_plan_do_not_make_it_stale(tmp_path: Path) -> None:
    # `status` or `wait` between a PR's plan and the merge's apply records results, which
    # bumps the serial; the runs tracked are the same, so the plan is still the one reviewed.
    plan, have, want = current()
    saved = plan._replace(tracked_checksum=have.tracked_checksum())
    path = tmp_path / "p.plan"
    save_plan(saved, path)
    loaded = load_plan(path)
    run = have.runs["a"].model_copy(update={"result": result_of(1)})
    recorded = have.model_copy(update={"serial": 8, "runs": {"a": run}})
    check_fresh(loaded, recorded, want)
    # A change to what is tracked still makes it stale, results or not.
    other = have.model_copy(update={"serial": 8, "runs": {"a": tracked(attrs(name="a"), 2)}})
    with pytest.raises(StalePlanError, match="serial 7 → 8"):
        check_fresh(loaded, other, want)


def test_other_lineage_makes_the_plan_stale() -> None:
    plan, have, want = current()
    other = have.model_copy(update={"lineage": "another-lineage"})
    with pytest.raises(StalePlanError, match=r"another state .*another-lineage"):
        check_fresh(plan, other, want)


def test_changed_specs_make_the_plan_stale() -> None:
    plan, have, _ = current()
    with pytest.raises(StalePlanError, match="specs ask for something else"):
        check_fresh(plan, have, desired(drun("a"), checksum=CHECKSUM + "0"))


def test_two_never_written_states_are_the_same_state() -> None:
    want = desired(drun("a"))
    plan = Plan(changes=(), lineage="first-in-memory", serial=0, specs_checksum=want.checksum)
    check_fresh(plan, State.new(), want)
    with pytest.raises(StalePlanError):
        check_fresh(plan, State.new().model_copy(update={"serial": 1}), want)


SPEC = """\
workspaceId: ${WS}
testRuns:
  a: {targetId: 42, probeIds: [1, 2]}
  b: {targetId: 43, probeIds: [3]}
"""


def test_a_comment_keeps_a_saved_plan_fresh_a_changed_value_does_not(tmp_path: Path) -> None:
    from reconciler.plan.diff import make_plan
    from reconciler.spec import load_specs

    spec = tmp_path / "a.yaml"
    spec.write_text(SPEC)
    env = {"WS": "1234"}
    have = state({}, serial=3)
    plan = make_plan(load_specs([spec], env=env), have)

    spec.write_text("# reviewed in PR 12\n" + SPEC.replace("[1, 2]", "[2, 1, 1]"))
    check_fresh(plan, have, load_specs([spec], env=env))
    check_fresh(plan, have, load_specs([spec], env={**env, "UNUSED": "x"}))

    with pytest.raises(StalePlanError, match="specs ask for something else"):
        check_fresh(plan, have, load_specs([spec], env={"WS": "5678"}))
    spec.write_text(SPEC.replace("targetId: 43", "targetId: 44"))
    with pytest.raises(StalePlanError, match=r"\$\{VAR\}"):
        check_fresh(plan, have, load_specs([spec], env=env))
