"""``moved:`` and ``revision`` through plan, saved plan, apply and state."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.apply import Executor
from reconciler.errors import PlanError, UsageError
from reconciler.plan.diff import make_plan
from reconciler.plan.model import Action
from reconciler.plan.render import render_text, summary_line
from reconciler.plan.saved import dumps_plan, loads_plan
from reconciler.spec.model import DesiredRun, DesiredSet, Move
from reconciler.state.codec import decode_state, encode_record, encode_state
from reconciler.state.model import JournalRecord, fold
from tests.factories import attrs, tracked
from tests.fakes import FakeApi, MemoryStore
from tests.plan.factories import desired, drun, state

GOLDEN_STATE = Path(__file__).resolve().parents[1] / "data" / "state" / "golden-v1.json"


def with_moves(want: DesiredSet, *moves: tuple[str, str]) -> DesiredSet:
    return want._replace(
        moves=tuple(Move(a, b, "specs/a.yaml", i + 10) for i, (a, b) in enumerate(moves))
    )


def test_a_move_alone_is_a_no_op_that_still_counts_as_a_change() -> None:
    want = with_moves(desired(drun("new", attrs(name="n"))), ("old", "new"))
    plan = make_plan(want, state({"old": tracked(attrs(name="n"), 7)}))
    (change,) = plan.changes
    assert (change.key, change.action, change.moved_from) == ("new", Action.NOOP, "old")
    assert change.reason == "moved from old"
    assert plan.has_changes and plan.moves == [change] and not plan.actionable
    assert summary_line(plan) == "Plan: 0 to trigger, 0 to replace, 0 to cancel, 1 to move."


def test_a_move_already_carried_out_does_nothing() -> None:
    want = with_moves(desired(drun("new", attrs(name="n"))), ("old", "new"))
    plan = make_plan(want, state({"new": tracked(attrs(name="n"), 7)}))
    assert not plan.has_changes
    assert plan.changes[0].moved_from is None


def test_a_move_with_a_field_change_is_a_replace_of_the_moved_run() -> None:
    want = with_moves(desired(drun("new", attrs(name="n", revision=2))), ("old", "new"))
    plan = make_plan(want, state({"old": tracked(attrs(name="n"), 7)}))
    (change,) = plan.changes
    assert (change.action, change.moved_from) == (Action.REPLACE, "old")
    assert change.before is not None and change.before.test_run_id == 7
    assert [f.detail for f in change.changed_fields] == ["revision: null → 2"]
    assert "# moved from old first (state only)" in render_text(plan, color=False)


def unnamed(key: str, **fields: object) -> DesiredRun:
    """A run whose spec sets no ``name``: the loader names it after its key."""
    return drun(key, attrs(name=key, **fields), name_defaulted=True)


def test_a_second_move_of_an_unnamed_run_keeps_the_first_name() -> None:
    # Triggered as support-bot-weekly, moved to support-bot-regression, now moved on to sbr2.
    have = state({"support-bot-regression": tracked(attrs(name="support-bot-weekly"), 7)})
    want = with_moves(desired(unnamed("sbr2")), ("support-bot-regression", "sbr2"))
    (change,) = make_plan(want, have).changes
    assert (change.key, change.action, change.moved_from) == (
        "sbr2",
        Action.NOOP,
        "support-bot-regression",
    )
    assert change.after is not None and change.after.name == "support-bot-weekly"


def test_dropping_a_carried_out_move_keeps_an_unnamed_run() -> None:
    have = state({"sbr2": tracked(attrs(name="support-bot-weekly"), 7)})
    assert not make_plan(desired(unnamed("sbr2")), have).has_changes


def test_a_moved_unnamed_run_with_a_field_change_is_replaced_under_its_tracked_name() -> None:
    want = with_moves(desired(unnamed("new", revision=2)), ("old", "new"))
    (change,) = make_plan(want, state({"old": tracked(attrs(name="old"), 7)})).changes
    assert (change.action, change.moved_from) == (Action.REPLACE, "old")
    assert [f.detail for f in change.changed_fields] == ["revision: null → 2"]
    assert change.after is not None and change.after.name == "old"


def test_an_explicit_name_is_taken_as_written_and_replaces() -> None:
    want = with_moves(desired(drun("new", attrs(name="new"))), ("old", "new"))
    (change,) = make_plan(want, state({"old": tracked(attrs(name="old"), 7)})).changes
    assert change.action is Action.REPLACE
    assert [f.detail for f in change.changed_fields] == ['name: "old" → "new"']


def test_an_unnamed_run_not_yet_tracked_is_triggered_under_its_key() -> None:
    want = with_moves(desired(unnamed("new")), ("old", "new"))
    (change,) = make_plan(want, state()).changes
    assert change.action is Action.TRIGGER
    assert change.after is not None and change.after.name == "new"


def test_a_move_whose_source_and_target_both_hold_runs_is_refused() -> None:
    want = with_moves(desired(drun("new")), ("old", "new"))
    have = state({"old": tracked(attrs(name="old"), 1), "new": tracked(attrs(name="new"), 2)})
    with pytest.raises(PlanError, match=r"specs/a.yaml:10: cannot move 'old' to 'new'"):
        make_plan(want, have)


def test_the_old_key_is_no_target_once_moved() -> None:
    want = with_moves(desired(drun("new")), ("old", "new"))
    with pytest.raises(UsageError, match="--target old"):
        make_plan(want, state({"old": tracked(attrs(name="new"), 1)}), targets=["old"])


def test_revision_bump_forces_a_replace_and_equal_revisions_do_not() -> None:
    have = state({"a": tracked(attrs(name="a", revision=1), 1)})
    bumped = make_plan(desired(drun("a", attrs(name="a", revision="1"))), have)
    assert bumped.changes[0].action is Action.REPLACE
    assert bumped.changes[0].changed_fields[0].detail == 'revision: 1 → "1"'
    same = make_plan(desired(drun("a", attrs(name="a", revision=1))), have)
    assert same.changes[0].action is Action.NOOP


def test_saved_plans_keep_moves() -> None:
    want = with_moves(desired(drun("new", attrs(name="n"))), ("old", "new"))
    plan = make_plan(want, state({"old": tracked(attrs(name="n"), 7)}))
    assert loads_plan(dumps_plan(plan)) == plan


def test_apply_moves_the_run_in_state_without_calling_the_api() -> None:
    old_state = state({"old": tracked(attrs(name="n"), 7), "gone": tracked(attrs(name="g"), 8)})
    want = with_moves(
        desired(drun("new", attrs(name="n", revision=3)), drun("kept", attrs(name="g"))),
        ("old", "new"),
        ("gone", "kept"),
    )
    store, api = MemoryStore(old_state), FakeApi()
    plan = make_plan(want, old_state)
    result = Executor(api, store).run(plan, old_state)
    assert result.succeeded and result.moved == 2
    assert api.cancelled == [("new", 1234, 7)]
    assert [key for key, _, _ in api.triggered] == ["new"]
    assert sorted(result.state.runs) == ["kept", "new"]
    assert result.state.runs["kept"].test_run_id == 8
    assert result.state.runs["new"].attributes.revision == 3


def test_fold_replays_moves_idempotently() -> None:
    start = state({"old": tracked(attrs(name="n"), 7)})
    move = JournalRecord(op="move", key="new", from_key="old")
    once = fold(start, [move])
    assert list(once.runs) == ["new"]
    assert fold(once, [move]) == once
    blocked = state({"old": tracked(attrs(name="n"), 7), "new": tracked(attrs(name="x"), 9)})
    assert fold(blocked, [move]) == blocked
    assert b'"fromKey":"old"' in encode_record(move)


def test_state_without_revision_keeps_its_bytes_and_one_with_revision_round_trips() -> None:
    # Version 1 files gain only the new version number when rewritten.
    golden = GOLDEN_STATE.read_bytes()
    assert encode_state(decode_state(golden, "golden")) == golden.replace(
        b'"version": 1', b'"version": 3'
    )
    with_revision = state({"a": tracked(attrs(name="a", revision="r1"), 1)})
    data = encode_state(with_revision)
    assert b'"revision": "r1"' in data
    assert decode_state(data, "x") == with_revision
