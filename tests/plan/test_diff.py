"""make_plan: one action per key, explained field by field, in a fixed order."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.errors import UsageError
from reconciler.plan.diff import (
    REASON_CHANGED,
    REASON_DESTROY,
    REASON_NEW,
    REASON_REMOVED,
    REASON_REPLACE_REQUESTED,
    REASON_RETRIGGER,
    REASON_UNKNOWN,
    explain,
    make_plan,
)
from reconciler.plan.model import Action, Change, Plan, PlanOptionsRecord
from tests.factories import attrs, tracked
from tests.plan.factories import CHECKSUM, LINEAGE, desired, drun, in_sync, state


def only(plan: Plan) -> Change:
    assert len(plan.changes) == 1
    return plan.changes[0]


def test_new_key_is_triggered_with_its_source() -> None:
    run = drun("a", line=12)
    change = only(make_plan(desired(run), state()))
    assert change.action is Action.TRIGGER
    assert change.reason == REASON_NEW
    assert change.before is None
    assert change.after == run.attributes
    assert change.source == "specs/runs.yaml:12"


def test_unchanged_key_is_a_noop() -> None:
    change = only(make_plan(*in_sync("a")))
    assert change.action is Action.NOOP
    assert not make_plan(*in_sync("a")).has_changes


def test_changed_key_is_replaced_with_the_fields_that_force_it() -> None:
    old = attrs(target_id=42)
    new = attrs(target_id=43)
    have = tracked(old, 900)
    change = only(make_plan(desired(drun("a", new)), state({"a": have})))
    assert change.action is Action.REPLACE
    assert change.reason == REASON_CHANGED
    assert change.before == have
    assert change.after == new
    assert [(f.field, f.before, f.after, f.detail) for f in change.changed_fields] == [
        ("targetId", 42, 43, "targetId: 42 → 43")
    ]


def test_key_removed_from_specs_is_cancelled() -> None:
    have = tracked(attrs(), 900)
    change = only(make_plan(desired(), state({"gone": have})))
    assert change.action is Action.CANCEL
    assert change.reason == REASON_REMOVED
    assert change.before == have
    assert change.after is None
    assert change.source is None


def test_plan_records_state_identity_specs_checksum_and_options() -> None:
    plan = make_plan(*in_sync("a", "b"), targets=["b", "a", "b"], replace=["a"])
    assert (plan.lineage, plan.serial, plan.specs_checksum) == (LINEAGE, 7, CHECKSUM)
    assert plan.options == PlanOptionsRecord(targets=("a", "b"), replace=("a",), refresh=False)


def test_changes_are_sorted_by_key_whatever_the_input_order() -> None:
    want = desired(drun("m"), drun("b"), drun("z", attrs(target_id=1)))
    have = state({"z": tracked(attrs(name="z")), "c": tracked(attrs()), "a": tracked(attrs())})
    plan = make_plan(want, have)
    assert [c.key for c in plan.changes] == ["a", "b", "c", "m", "z"]
    assert [c.action for c in plan.changes] == [
        Action.CANCEL,
        Action.TRIGGER,
        Action.CANCEL,
        Action.TRIGGER,
        Action.REPLACE,
    ]
    assert make_plan(want, have) == plan


# --- explanations --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after", "details"),
    [
        ({"target_id": 42}, {"target_id": 43}, ["targetId: 42 → 43"]),
        ({"probe_ids": (101, 102)}, {"probe_ids": (101, 102, 103)}, ["probeIds: +103"]),
        ({"probe_ids": (101, 102)}, {"probe_ids": (102,)}, ["probeIds: -101"]),
        ({"probe_ids": (1, 2)}, {"probe_ids": (2, 4, 3)}, ["probeIds: +3 +4 -1"]),
        ({"name": "old"}, {"name": "new"}, ['name: "old" → "new"']),
        ({"run_ai_analysis": False}, {"run_ai_analysis": True}, ["runAiAnalysis: false → true"]),
        (
            {"notify_when_finished": True},
            {"notify_when_finished": False},
            ["notifyWhenFinished: true → false"],
        ),
        ({"workspace_id": 1}, {"workspace_id": 2}, ["workspaceId: 1 → 2"]),
        (
            {"workspace_id": 1, "name": "x", "target_id": 5},
            {"workspace_id": 2, "name": "y", "target_id": 6},
            ["workspaceId: 1 → 2", "targetId: 5 → 6", 'name: "x" → "y"'],
        ),
    ],
)
def test_explain_names_each_changed_field(
    before: dict[str, object], after: dict[str, object], details: list[str]
) -> None:
    fields = explain(attrs(**before), attrs(**after))
    assert [f.detail for f in fields] == details


def test_explain_reports_probe_ids_as_sorted_lists() -> None:
    (field,) = explain(attrs(probe_ids=(1, 2)), attrs(probe_ids=(3,)))
    assert (field.field, field.before, field.after) == ("probeIds", [1, 2], [3])


def test_explain_of_equal_records_is_empty() -> None:
    assert explain(attrs(), attrs()) == ()


def test_probe_order_and_repeats_in_specs_do_not_force_a_replace() -> None:
    want = desired(drun("a", attrs(probe_ids=(102, 101, 101))))
    have = state({"a": tracked(attrs(probe_ids=(101, 102)))})
    assert only(make_plan(want, have)).action is Action.NOOP


# --- unknown outcomes ----------------------------------------------------------------------


def test_unknown_entry_in_specs_stays_unknown_and_shows_spec_drift() -> None:
    have = tracked(attrs(target_id=1), status="unknown", note="timeout")
    want = drun("a", attrs(target_id=2), line=3)
    change = only(make_plan(desired(want), state({"a": have})))
    assert change.action is Action.UNKNOWN
    assert change.reason == REASON_UNKNOWN
    assert change.before == have
    assert change.after == want.attributes
    assert change.source == "specs/runs.yaml:3"
    assert [f.detail for f in change.changed_fields] == ["targetId: 1 → 2"]


def test_unknown_entry_removed_from_specs_stays_unknown() -> None:
    have = tracked(attrs(), status="unknown")
    for retrigger in (False, True):
        change = only(make_plan(desired(), state({"a": have}), retrigger_unknown=retrigger))
        assert change.action is Action.UNKNOWN
        assert change.after is None


def test_retrigger_unknown_plans_a_trigger_for_keys_in_specs() -> None:
    have = tracked(attrs(), status="unknown")
    want = drun("a", attrs())
    change = only(make_plan(desired(want), state({"a": have}), retrigger_unknown=True))
    assert change.action is Action.TRIGGER
    assert change.reason == REASON_RETRIGGER
    assert change.after == want.attributes
    assert change.before == have  # kept so renderers can show what is being re-triggered


def test_retrigger_unknown_leaves_triggered_runs_alone() -> None:
    plan = make_plan(*in_sync("a"), retrigger_unknown=True)
    assert only(plan).action is Action.NOOP
    assert plan.options.retrigger_unknown is True


# --- --target -------------------------------------------------------------------------------


def test_targets_plan_only_those_keys() -> None:
    want = desired(drun("new"), drun("other"))
    have = state({"gone": tracked(attrs()), "also-gone": tracked(attrs())})
    plan = make_plan(want, have, targets=["gone", "new"])
    assert [(c.key, c.action) for c in plan.changes] == [
        ("gone", Action.CANCEL),
        ("new", Action.TRIGGER),
    ]


def test_unknown_target_is_a_usage_error_naming_it() -> None:
    with pytest.raises(UsageError, match=r"--target nope, zz: no such key"):
        make_plan(*in_sync("a"), targets=["a", "zz", "nope"])


# --- --replace ------------------------------------------------------------------------------


def test_replace_forces_an_unchanged_key() -> None:
    plan = make_plan(*in_sync("a", "b"), replace=["b"])
    assert [(c.key, c.action, c.reason) for c in plan.changes] == [
        ("a", Action.NOOP, "unchanged"),
        ("b", Action.REPLACE, REASON_REPLACE_REQUESTED),
    ]
    assert plan.changes[1].changed_fields == ()


def test_replace_of_a_changed_key_keeps_its_field_explanation() -> None:
    want = desired(drun("a", attrs(name="new")))
    have = state({"a": tracked(attrs(name="old"))})
    change = only(make_plan(want, have, replace=["a"]))
    assert (change.action, change.reason) == (Action.REPLACE, REASON_CHANGED)


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("nope", "--replace nope: no such key in the specs or the state"),
        ("only-spec", "--replace only-spec: the state tracks no run"),
        ("only-state", "--replace only-state: the key is no longer in the specs"),
        ("unknown", "--replace unknown: the outcome of its last trigger is unknown"),
    ],
)
def test_replace_of_a_key_that_cannot_be_replaced_is_a_usage_error(key: str, message: str) -> None:
    want = desired(drun("only-spec"), drun("unknown"))
    have = state(
        {
            "only-state": tracked(attrs()),
            "unknown": tracked(attrs(name="unknown"), status="unknown"),
        }
    )
    with pytest.raises(UsageError, match=message):
        make_plan(want, have, replace=[key])


def test_replace_outside_the_targets_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="outside the --target selection; add --target b"):
        make_plan(*in_sync("a", "b"), targets=["a"], replace=["b"])


# --- destroy --------------------------------------------------------------------------------


def test_destroy_cancels_every_tracked_run_whatever_the_specs() -> None:
    want = desired(drun("kept"), drun("spec-only"))
    have = state(
        {
            "kept": tracked(attrs(name="kept"), 1),
            "removed": tracked(attrs(), 2),
            "lost": tracked(attrs(), status="unknown"),
        }
    )
    plan = make_plan(want, have, destroy=True)
    assert [(c.key, c.action, c.reason) for c in plan.changes] == [
        ("kept", Action.CANCEL, REASON_DESTROY),
        ("lost", Action.UNKNOWN, REASON_UNKNOWN),
        ("removed", Action.CANCEL, REASON_DESTROY),
    ]
    assert all(c.after is None for c in plan.changes)
    assert plan.options.destroy is True


def test_destroy_honours_targets() -> None:
    plan = make_plan(*in_sync("a", "b"), destroy=True, targets=["b"])
    assert [(c.key, c.action) for c in plan.changes] == [("b", Action.CANCEL)]


@pytest.mark.parametrize("option", [{"replace": ["a"]}, {"retrigger_unknown": True}])
def test_destroy_refuses_replace_and_retrigger(option: dict[str, object]) -> None:
    with pytest.raises(UsageError, match="destroy cancels every tracked run"):
        make_plan(*in_sync("a"), destroy=True, **option)  # type: ignore[arg-type]


# --- performance ----------------------------------------------------------------------------


def test_deepdiff_runs_only_on_changed_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    # Speed is measured in bench/bench_plan.py; here we pin the mechanism that makes it fast:
    # an equality pre-filter, and DeepDiff only for the runs that differ.
    import deepdiff

    calls = 0
    real = deepdiff.DeepDiff

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return real(*args, **kwargs)

    # diff.py imports DeepDiff from the package on first use (start-up cost), so patch there.
    monkeypatch.setattr(deepdiff, "DeepDiff", counting)
    count = 2_000
    runs = [drun(f"run-{i:05d}", attrs(name=f"run-{i}", target_id=i)) for i in range(count)]
    have = state(
        {
            run.key: tracked(
                attrs(name=run.attributes.name, target_id=i + (1 if i % 100 == 0 else 0)), i
            )
            for i, run in enumerate(runs)
        }
    )
    plan = make_plan(desired(*runs), have)
    assert plan.counts()[Action.REPLACE] == count // 100
    assert plan.counts()[Action.NOOP] == count - count // 100
    assert calls == count // 100
