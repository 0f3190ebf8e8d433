"""Property: executing a plan's actions brings the state to the desired set, and then the plan
is empty."""

from __future__ import annotations

from typing import Literal

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.plan.diff import make_plan
from reconciler.plan.model import Action, Plan
from reconciler.records import RunAttributes
from reconciler.spec.model import DesiredSet
from reconciler.state.model import State, TrackedRun
from tests.factories import attrs, tracked
from tests.plan.factories import desired, drun, state

KEYS = st.sampled_from([f"run-{i}" for i in range(12)])

attributes = st.builds(
    attrs,
    workspace_id=st.integers(1, 3),
    target_id=st.integers(1, 3),
    probe_ids=st.lists(st.integers(1, 5), max_size=4),
    name=st.sampled_from(["a", "b"]),
    run_ai_analysis=st.booleans(),
    notify_when_finished=st.booleans(),
)


@st.composite
def desired_sets(draw: st.DrawFn) -> DesiredSet:
    runs = draw(st.dictionaries(KEYS, attributes, max_size=8))
    return desired(*(drun(key, value) for key, value in runs.items()))


@st.composite
def states(draw: st.DrawFn, *, unknown: bool) -> State:
    runs = draw(st.dictionaries(KEYS, attributes, max_size=8))
    choices: list[Literal["triggered", "unknown"]] = ["triggered", "unknown"]
    statuses = st.sampled_from(choices if unknown else choices[:1])
    return state(
        {
            key: tracked(value, 1000 + i, status=draw(statuses))
            for i, (key, value) in enumerate(sorted(runs.items()))
        }
    )


def simulate(plan: Plan, before: State) -> State:
    """What a successful apply does: trigger → new entry, cancel → gone, replace → both."""
    runs = dict(before.runs)
    next_id = 9000
    for change in plan.changes:
        if change.action in (Action.CANCEL, Action.REPLACE):
            del runs[change.key]
        if change.action in (Action.TRIGGER, Action.REPLACE):
            assert change.after is not None
            next_id += 1
            runs[change.key] = TrackedRun(
                test_run_id=next_id, attributes=change.after, triggered_at="2024-01-01T00:00:00Z"
            )
    return before.with_runs(runs)


def tracked_attributes(current: State) -> dict[str, RunAttributes]:
    return {key: run.attributes for key, run in current.runs.items()}


@settings(max_examples=300, deadline=None)
@given(desired_sets(), states(unknown=False), st.lists(KEYS, max_size=3))
def test_applying_a_plan_converges_and_replanning_is_empty(
    want: DesiredSet, have: State, replace: list[str]
) -> None:
    replace = [key for key in replace if key in want.runs and key in have.runs]
    after = simulate(make_plan(want, have, replace=replace), have)
    assert tracked_attributes(after) == {k: r.attributes for k, r in want.runs.items()}
    assert not make_plan(want, after).has_changes


@settings(max_examples=200, deadline=None)
@given(desired_sets(), states(unknown=True))
def test_with_unknown_outcomes_only_the_unresolved_keys_remain(
    want: DesiredSet, have: State
) -> None:
    plan = make_plan(want, have, retrigger_unknown=True)
    after = simulate(plan, have)
    again = make_plan(want, after)
    # Unknown keys that left the specs cannot be resolved by apply: they wait for the user.
    leftover = {k for k, r in have.runs.items() if r.status == "unknown" and k not in want.runs}
    assert {c.key for c in again.changes if c.action is not Action.NOOP} == leftover
    assert all(c.action is Action.UNKNOWN for c in again.changes if c.key in leftover)


@settings(max_examples=100, deadline=None)
@given(desired_sets(), states(unknown=False))
def test_destroy_leaves_nothing_tracked(want: DesiredSet, have: State) -> None:
    after = simulate(make_plan(want, have, destroy=True), have)
    assert after.runs == {}
