"""What a refresh and ``rerunAfter`` make of a plan: re-triggers with their reason, due
replaces, and what stays a no-op (``make_plan`` with ``refreshed`` and an injected clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.commands.refreshing import result_records
from reconciler.errors import PlanError, UnsafePlanError
from reconciler.plan.diff import (
    REASON_CANCELLED_OUTSIDE,
    REASON_ERROR,
    REASON_GONE,
    make_plan,
)
from reconciler.plan.model import Action, Observed, Plan
from reconciler.plan.render import render_text
from reconciler.plan.safety import check_plan
from reconciler.plan.saved import dumps_plan, load_plan, loads_plan, save_plan
from tests.factories import attrs, result_of, tracked
from tests.plan.factories import desired, drun, state
from tests.plan.samples import REFRESH_NOW, refreshed_plan

TRIGGERED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)  # tests.factories.tracked's triggeredAt
DAY = 86_400


def one(
    observed: Observed | None,
    *,
    rerun_after: int | None = None,
    now: datetime = TRIGGERED + timedelta(days=8),
    recorded: str | None = None,
    attributes_changed: bool = False,
) -> Plan:
    want = drun("a", attrs(name="a", target_id=43 if attributes_changed else 42))
    want = drun("a", want.attributes, rerun_after=rerun_after)
    run = tracked(attrs(name="a"), 9001)
    if recorded is not None:
        run = run.model_copy(update={"result": result_of(9001, status=recorded)})
    refreshed = {9001: observed} if observed is not None else {}
    return make_plan(desired(want), state({"a": run}), refreshed=refreshed, now=now)


@pytest.mark.parametrize("spelling", ["Canceled", "CANCELED", "canceled"])
def test_a_run_cancelled_outside_plans_as_a_trigger_in_any_spelling(spelling: str) -> None:
    plan = one(Observed(result=result_of(9001, status=spelling)))
    (change,) = plan.changes
    assert (change.action, change.reason) == (Action.TRIGGER, REASON_CANCELLED_OUTSIDE)
    assert change.before is not None and change.before.test_run_id == 9001
    assert plan.has_changes and plan.options.refresh


@pytest.mark.parametrize("spelling", ["Error", "ERROR"])
def test_a_run_ended_in_error_plans_as_a_trigger(spelling: str) -> None:
    (change,) = one(Observed(result=result_of(9001, status=spelling, errored=4))).changes
    assert (change.action, change.reason) == (Action.TRIGGER, REASON_ERROR)


def test_a_gone_run_plans_as_a_trigger() -> None:
    (change,) = one(Observed(gone=True)).changes
    assert (change.action, change.reason) == (Action.TRIGGER, REASON_GONE)


def test_a_recorded_canceled_result_replans_without_a_refresh() -> None:
    # `status` may have recorded it; the run is never read again, so state must be enough.
    want = drun("a", attrs(name="a"))
    run = tracked(attrs(name="a"), 9001).model_copy(
        update={"result": result_of(9001, status="Canceled")}
    )
    plan = make_plan(desired(want), state({"a": run}))
    assert plan.changes[0].action is Action.TRIGGER
    assert not plan.options.refresh


@pytest.mark.parametrize("spelling", ["Finished", "FINISHED", "Running", "RUNNING", "Queued"])
def test_finished_running_and_unknown_statuses_are_no_ops(spelling: str) -> None:
    (change,) = one(Observed(result=result_of(9001, status=spelling))).changes
    assert change.action is Action.NOOP
    assert change.observed is not None  # what was read is kept in the plan


def test_an_unreadable_run_plans_as_if_not_refreshed_and_is_named() -> None:
    plan = one(Observed(error="status of 'a' (run 9001): 500"))
    assert plan.changes[0].action is Action.NOOP
    assert [c.key for c in plan.unreadable] == ["a"]


def test_changed_fields_of_a_cancelled_run_still_trigger_and_are_listed() -> None:
    observed = Observed(result=result_of(9001, status="Canceled"))
    (change,) = one(observed, attributes_changed=True).changes
    assert change.action is Action.TRIGGER
    assert [f.field for f in change.changed_fields] == ["targetId"]


def test_due_when_ended_and_older_than_rerun_after() -> None:
    (change,) = one(Observed(result=result_of(9001)), rerun_after=7 * DAY).changes
    assert change.action is Action.REPLACE
    assert change.reason == "due: triggered 8d ago, rerunAfter 7d"


def test_due_from_a_recorded_result_without_a_refresh() -> None:
    (change,) = one(None, rerun_after=12 * 3600, recorded="Finished").changes
    assert (change.action, change.reason) == (
        Action.REPLACE,
        "due: triggered 8d ago, rerunAfter 12h",
    )


def test_not_due_before_rerun_after_has_passed() -> None:
    now = TRIGGERED + timedelta(days=7)  # exactly 7d: not longer ago than that
    (change,) = one(Observed(result=result_of(9001)), rerun_after=7 * DAY, now=now).changes
    assert change.action is Action.NOOP


@pytest.mark.parametrize("observed", [Observed(result=result_of(9001, status="RUNNING")), None])
def test_a_run_still_going_or_not_known_to_have_ended_is_never_due(
    observed: Observed | None,
) -> None:
    plan = one(observed, rerun_after=60, now=TRIGGERED + timedelta(days=365))
    assert plan.changes[0].action is Action.NOOP


def test_editing_rerun_after_alone_changes_nothing() -> None:
    run = tracked(attrs(name="a"), 9001)
    for rerun_after in (None, 60, 30 * DAY):
        want = drun("a", attrs(name="a"), rerun_after=rerun_after)
        plan = make_plan(desired(want), state({"a": run}), now=TRIGGERED + timedelta(days=1))
        assert plan.changes[0].action is Action.NOOP, rerun_after
    assert drun("a", rerun_after=60).attributes == drun("a").attributes


def test_runs_come_due_are_no_mass_cancellation_but_protect_still_refuses() -> None:
    keys = [f"r{i}" for i in range(12)]
    runs = [drun(k, attrs(name=k), rerun_after=DAY) for k in keys]
    have = state(
        {
            k: tracked(attrs(name=k), 100 + i).model_copy(update={"result": result_of(100 + i)})
            for i, k in enumerate(keys)
        }
    )
    plan = make_plan(desired(*runs), have, now=REFRESH_NOW)
    assert len(plan.by_action(Action.REPLACE)) == 12
    check_plan(plan, desired(*runs), have, force=False, allow_empty=False)  # no refusal
    protected = desired(*runs[:-1], drun("r11", attrs(name="r11"), rerun_after=DAY, protect=True))
    with pytest.raises(UnsafePlanError, match="r11"):
        check_plan(
            make_plan(protected, have, now=REFRESH_NOW),
            protected,
            have,
            force=False,
            allow_empty=False,
        )


def test_destroy_carries_what_the_refresh_read_and_its_results_are_recorded() -> None:
    finished, going = tracked(attrs(name="a"), 9001), tracked(attrs(name="b"), 9002)
    reads = {
        9001: Observed(result=result_of(9001, failed=1)),
        9002: Observed(result=result_of(9002, status="Running")),
    }
    plan = make_plan(desired(), state({"a": finished, "b": going}), destroy=True, refreshed=reads)
    by_key = {c.key: c for c in plan.changes}
    assert {c.action for c in plan.changes} == {Action.CANCEL}
    assert by_key["a"].run_ended and not by_key["b"].run_ended
    assert plan.options.refresh and plan.options.destroy
    assert [(r.key, r.test_run_id) for r in result_records(plan)] == [("a", 9001)]
    text = render_text(plan, color=False)
    assert "# test run 9001 has ended (Finished): nothing to cancel, it leaves the state" in text
    assert "9002 has" not in text


def test_result_records_are_the_ended_reads_keyed_as_state_knows_them() -> None:
    records = result_records(refreshed_plan())
    assert [(r.key, r.test_run_id, r.result and r.result.status) for r in records] == [
        ("cancelled", 7001, "Canceled"),
        ("due", 7004, "Finished"),
        ("errored", 7002, "Error"),
        ("removed", 7008, "Finished"),
    ]


def test_a_saved_refreshed_plan_round_trips_with_what_was_read(tmp_path: Path) -> None:
    plan = refreshed_plan()
    path = tmp_path / "plan.json"
    save_plan(plan, path)
    loaded = load_plan(path)
    assert loaded == plan
    assert loaded.options.refresh is True
    assert result_records(loaded) == result_records(plan)


def test_an_older_saved_plan_is_refused_with_the_advice_to_plan_again() -> None:
    import json

    # The shape plan --out wrote before options became a typed record.
    old = json.loads(dumps_plan(refreshed_plan()))
    old["version"] = 1
    old["plan"]["options"] = {
        "targets": [],
        "replace": [],
        "retrigger_unknown": False,
        "destroy": False,
        "paths": [],
    }
    with pytest.raises(PlanError) as err:
        loads_plan(json.dumps(old), source="old.plan")
    message = str(err.value)
    assert "written by an older reconciler" in message
    assert "run `reconciler plan --out old.plan` again" in message
    assert "Field required" not in message and "validation" not in message
