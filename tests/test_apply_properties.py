"""Property: the real ``Executor``, on the real local store, brings any state to any desired set.

Random desired sets, random starting states (including unknown entries) and random API faults
per key. After an apply with faults, every key that met no fault is settled and the store reads
back exactly what was persisted; after a second apply without faults (unknowns re-triggered:
the fake API never created them), planning again gives no changes. No key is ever triggered
twice in one apply, and only runs the state tracked are cancelled.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Literal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.api.base import CancelOutcome
from reconciler.apply import Executor
from reconciler.errors import (
    NotSentError,
    OutcomeUnknownError,
    RequestRejectedError,
    ServerError,
)
from reconciler.plan.diff import make_plan
from reconciler.plan.model import Action
from reconciler.spec.model import DesiredSet
from reconciler.state.local import LocalStateStore
from reconciler.state.model import State
from tests.factories import attrs, tracked
from tests.fakes import FakeApi
from tests.plan.factories import desired, drun

KEYS = [f"run-{i}" for i in range(8)]
Fault = Literal["not-sent", "rejected", "unknown", "cancel-fails", "nothing-to-cancel"]
FAULTS: list[Fault] = ["not-sent", "rejected", "unknown", "cancel-fails", "nothing-to-cancel"]

attributes = st.builds(attrs, target_id=st.integers(1, 2), probe_ids=st.sampled_from([(1,), (2,)]))


@st.composite
def desired_sets(draw: st.DrawFn) -> DesiredSet:
    runs = draw(st.dictionaries(st.sampled_from(KEYS), attributes, max_size=8))
    return desired(*(drun(key, value) for key, value in runs.items()))


@st.composite
def start_states(draw: st.DrawFn) -> dict[str, tuple[int, Literal["triggered", "unknown"]]]:
    keys = draw(st.lists(st.sampled_from(KEYS), unique=True, max_size=8))
    statuses = st.sampled_from(["triggered", "triggered", "unknown"])
    return {key: (draw(st.integers(1, 2)), draw(statuses)) for key in keys}


def _api(faults: dict[str, Fault]) -> FakeApi:
    api = FakeApi()
    for key, fault in faults.items():
        if fault == "not-sent":
            api.trigger_errors[key] = NotSentError(f"{key}: not sent")
        elif fault == "rejected":
            api.trigger_errors[key] = RequestRejectedError(f"{key}: rejected", status=400)
        elif fault == "unknown":
            api.trigger_errors[key] = OutcomeUnknownError(f"{key}: no answer")
        elif fault == "cancel-fails":
            api.cancel_errors[key] = ServerError(f"{key}: 500")
        else:
            api.cancel_answers[key] = CancelOutcome.NOTHING_TO_CANCEL
    return api


def _apply(store: LocalStateStore, want: DesiredSet, api: FakeApi, *, retrigger: bool) -> State:
    with store.lock("apply"):
        before = store.recover()
        plan = make_plan(want, before, retrigger_unknown=retrigger)
        result = Executor(api, store, parallelism=3).run(plan, before)
    tracked_ids = {r.test_run_id for r in before.runs.values()}
    assert all(run_id in tracked_ids for _, _, run_id in api.cancelled)
    assert max(Counter(k for op, k in api.calls if op == "trigger").values(), default=0) <= 1
    assert store.journal() == []
    assert store.read() == result.state
    return result.state


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    want=desired_sets(),
    start=start_states(),
    faults=st.dictionaries(st.sampled_from(KEYS), st.sampled_from(FAULTS), max_size=4),
    retrigger=st.booleans(),
)
def test_executor_converges_and_the_next_plan_is_empty(
    want: DesiredSet,
    start: dict[str, tuple[int, Literal["triggered", "unknown"]]],
    faults: dict[str, Fault],
    retrigger: bool,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = LocalStateStore(Path(tmp) / "state.json")
        initial = State.new().with_runs(
            {
                key: tracked(attrs(target_id=target, name=key), 100 + i, status=status)
                for i, (key, (target, status)) in enumerate(sorted(start.items()))
            }
        )
        with store.lock("seed"):
            store.recover()
            store.persist(initial)

        after_faults = _apply(store, want, _api(faults), retrigger=retrigger)
        settled = make_plan(want, after_faults, retrigger_unknown=retrigger)
        for change in settled.changes:
            if change.key in faults:
                continue
            if change.action is Action.UNKNOWN:
                # Only an entry that was already unknown, and was not asked to be re-triggered
                # (or is no longer wanted), stays unknown.
                assert start.get(change.key, (0, ""))[1] == "unknown"
                assert not retrigger or change.key not in want.runs
            else:
                assert change.action is Action.NOOP, change

        # The user resolves: faults gone, unknowns re-triggered (this API never created them),
        # unknown entries of keys no longer wanted forgotten (`state rm`).
        final = _apply(store, want, FakeApi(), retrigger=True)
        leftovers = {k for k, r in final.runs.items() if r.status == "unknown"}
        assert leftovers <= set(start) - set(want.runs)
        with store.lock("state rm"):
            state = store.recover()
            store.persist(state.with_runs({k: r for k, r in state.runs.items() if k in want.runs}))
        assert not make_plan(want, store.read()).has_changes
