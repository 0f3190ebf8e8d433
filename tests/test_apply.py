"""The executor: order, journal bracketing, failures, fatal errors, unknown outcomes."""

from __future__ import annotations

import threading

import pytest

from reconciler.api.base import CancelOutcome
from reconciler.apply import Executor, Outcome
from reconciler.errors import (
    AuthenticationError,
    LockError,
    NotSentError,
    OutcomeUnknownError,
    RequestRejectedError,
    ServerError,
)
from reconciler.plan.model import Action, Change, Observed, Plan
from reconciler.records import RunAttributes
from reconciler.state.model import JournalRecord, State, TrackedRun
from tests.factories import attrs, result_of, tracked
from tests.fakes import FakeApi, MemoryStore


def make_plan(state: State, changes: list[Change]) -> Plan:
    return Plan(
        changes=tuple(sorted(changes, key=lambda c: c.key)),
        lineage=state.lineage,
        serial=state.serial,
        specs_checksum="x",
    )


def trigger(key: str, a: RunAttributes | None = None) -> Change:
    return Change(key, Action.TRIGGER, None, a or attrs(name=key), "new key")


def cancel(key: str, run: TrackedRun) -> Change:
    return Change(key, Action.CANCEL, run, None, "key removed from specs")


def replace(key: str, run: TrackedRun, a: RunAttributes) -> Change:
    return Change(key, Action.REPLACE, run, a, "fields changed")


def test_triggers_are_recorded_with_their_ids_and_journal_is_bracketed() -> None:
    store, api = MemoryStore(), FakeApi()
    state = store.state
    plan = make_plan(state, [trigger("a"), trigger("b")])
    result = Executor(api, store, parallelism=2).run(plan, state)
    assert result.succeeded
    ids = {key: rid for key, _, rid in api.triggered}
    assert {k: r.test_run_id for k, r in result.state.runs.items()} == ids
    # Persisted once at the end, with the serial bumped once.
    assert store.persisted[-1] == result.state
    assert result.state.serial == state.serial + 1


def test_cancels_run_before_triggers() -> None:
    old = tracked(attrs(name="old"), 7)
    state = State.new().with_runs({"old": old})
    store, api = MemoryStore(state), FakeApi()
    plan = make_plan(state, [trigger("a"), trigger("b"), cancel("old", old)])
    Executor(api, store, parallelism=4).run(plan, state)
    assert api.calls[0] == ("cancel", "old")
    assert "old" not in store.state.runs


def test_replace_cancels_then_triggers_and_keeps_new_id() -> None:
    old = tracked(attrs(target_id=42, name="k"), 7)
    state = State.new().with_runs({"k": old})
    store, api = MemoryStore(state), FakeApi()
    new_attrs = attrs(target_id=43, name="k")
    result = Executor(api, store).run(make_plan(state, [replace("k", old, new_attrs)]), state)
    assert [c for c in api.calls] == [("cancel", "k"), ("trigger", "k")]
    assert result.results[0].outcome is Outcome.REPLACED
    assert store.state.runs["k"].attributes == new_attrs
    assert store.state.runs["k"].test_run_id == api.triggered[0][2]


def test_replace_does_not_trigger_when_cancel_fails() -> None:
    old = tracked(attrs(name="k"), 7)
    state = State.new().with_runs({"k": old})
    store, api = MemoryStore(state), FakeApi()
    api.cancel_errors["k"] = ServerError("500 from the API")
    result = Executor(api, store).run(
        make_plan(state, [replace("k", old, attrs(target_id=9))]), state
    )
    assert api.calls == [("cancel", "k")]
    assert result.results[0].outcome is Outcome.FAILED
    assert store.state.runs["k"] == old  # still tracked: the next apply tries again


def test_nothing_left_to_cancel_removes_the_run_with_a_note() -> None:
    old = tracked(attrs(name="gone"), 7)
    state = State.new().with_runs({"gone": old})
    store, api = MemoryStore(state), FakeApi()
    api.cancel_answers["gone"] = CancelOutcome.NOTHING_TO_CANCEL
    result = Executor(api, store).run(make_plan(state, [cancel("gone", old)]), state)
    assert result.results[0].outcome is Outcome.NOTHING_TO_CANCEL
    assert "already ended" in result.results[0].message
    assert store.state.runs == {}


class JournalingStore(MemoryStore):
    """A MemoryStore that keeps every record appended (``persist`` empties ``records``)."""

    def __init__(self, state: State) -> None:
        super().__init__(state)
        self.appended: list[JournalRecord] = []

    def append(self, record: JournalRecord) -> None:
        self.appended.append(record)
        super().append(record)


def test_replace_of_a_run_known_to_have_ended_is_its_trigger_alone() -> None:
    ended = tracked(attrs(name="k"), 7).model_copy(update={"result": result_of(7, failed=2)})
    state = State.new().with_runs({"k": ended})
    store, api = JournalingStore(state), FakeApi()
    result = Executor(api, store).run(
        make_plan(state, [replace("k", ended, attrs(target_id=9, name="k"))]), state
    )
    assert api.calls == [("trigger", "k")]
    assert [r.op for r in store.appended] == ["trigger-intent", "trigger-done"]
    assert result.results[0].outcome is Outcome.REPLACED
    new = store.state.runs["k"]
    assert new.test_run_id == api.triggered[0][2] and new.result is None
    assert new.history == (result_of(7, failed=2),)  # the old run's result is kept


def test_cancel_of_a_run_read_ended_or_gone_sends_nothing_and_retires_its_result() -> None:
    finished, gone = tracked(attrs(name="f"), 7), tracked(attrs(name="g"), 8)
    state = State.new().with_runs({"f": finished, "g": gone})
    # What the refresh read, recorded in state before apply runs (as the CLI does).
    state = state.with_runs(
        {**state.runs, "f": finished.model_copy(update={"result": result_of(7)})}
    )
    store, api = JournalingStore(state), FakeApi()
    changes = [
        Change("f", Action.CANCEL, finished, None, "removed", observed=Observed(result_of(7))),
        Change("g", Action.CANCEL, gone, None, "removed", observed=Observed(gone=True)),
    ]
    result = Executor(api, store).run(make_plan(state, changes), state)
    assert api.calls == []
    assert [(r.op, r.key) for r in store.appended] == [("cancel-done", "f"), ("cancel-done", "g")]
    messages = {r.key: (r.outcome, r.message) for r in result.results}
    assert messages["f"] == (
        Outcome.NOTHING_TO_CANCEL,
        "run 7 had already ended (Finished): no cancel sent; removed from state",
    )
    assert messages["g"][1] == "run 8 no longer exists: no cancel sent; removed from state"
    assert store.state.runs == {}
    assert store.state.retired == {"f": (result_of(7),)}


def test_one_failure_does_not_stop_the_others() -> None:
    store, api = MemoryStore(), FakeApi()
    api.trigger_errors["b"] = RequestRejectedError("400: targetId invalid", status=400)
    plan = make_plan(store.state, [trigger("a"), trigger("b"), trigger("c")])
    result = Executor(api, store, parallelism=1).run(plan, store.state)
    assert not result.succeeded
    assert sorted(store.state.runs) == ["a", "c"]
    outcomes = {r.key: r.outcome for r in result.results}
    assert outcomes == {"a": Outcome.TRIGGERED, "b": Outcome.FAILED, "c": Outcome.TRIGGERED}


def test_unknown_outcome_is_recorded_as_unknown_not_failed() -> None:
    store, api = MemoryStore(), FakeApi()
    api.trigger_errors["a"] = OutcomeUnknownError("read timeout after the request was sent")
    result = Executor(api, store).run(make_plan(store.state, [trigger("a")]), store.state)
    assert result.results[0].outcome is Outcome.UNKNOWN
    entry = store.state.runs["a"]
    assert entry.status == "unknown"
    assert entry.test_run_id is None
    assert "read timeout" in entry.note


def test_not_sent_trigger_leaves_no_entry() -> None:
    store, api = MemoryStore(), FakeApi()
    api.trigger_errors["a"] = NotSentError("connection refused")
    Executor(api, store).run(make_plan(store.state, [trigger("a")]), store.state)
    assert store.state.runs == {}


def test_fatal_error_stops_new_operations() -> None:
    store, api = MemoryStore(), FakeApi()
    api.trigger_errors["a"] = AuthenticationError("401")
    keys = ["a", *[f"z{i}" for i in range(20)]]
    plan = make_plan(store.state, [trigger(k) for k in keys])
    result = Executor(api, store, parallelism=1).run(plan, store.state)
    assert result.fatal is not None
    assert api.calls == [("trigger", "a")]
    assert result.count(Outcome.SKIPPED) == 20
    assert not result.succeeded


def test_intent_is_durable_before_the_request_is_sent() -> None:
    store, api = MemoryStore(), FakeApi()
    seen: list[list[str]] = []
    api.on_trigger = lambda key: seen.append([r.op for r in store.records if r.key == key])
    Executor(api, store).run(make_plan(store.state, [trigger("a")]), store.state)
    assert seen == [["trigger-intent"]]


def test_parallelism_is_bounded() -> None:
    store, api = MemoryStore(), FakeApi()
    active = 0
    peak = 0
    lock = threading.Lock()
    gate = threading.Event()

    def hook(_key: str) -> None:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        gate.wait(0.01)
        with lock:
            active -= 1

    api.on_trigger = hook
    plan = make_plan(store.state, [trigger(f"k{i}") for i in range(30)])
    Executor(api, store, parallelism=3).run(plan, store.state)
    assert 1 < peak <= 3


def test_parallelism_must_be_positive() -> None:
    with pytest.raises(ValueError, match="parallelism"):
        Executor(FakeApi(), MemoryStore(), parallelism=0)


class _FailingDoneStore(MemoryStore):
    """Takes intents, refuses the outcome: as when the lock is force-unlocked mid-apply."""

    def append(self, record: JournalRecord) -> None:
        if record.op == "trigger-done":
            raise LockError("the lock was removed by force-unlock")
        super().append(record)


def test_a_run_id_that_cannot_be_recorded_is_reported_with_the_import_command() -> None:
    store, api = _FailingDoneStore(), FakeApi()
    plan = make_plan(store.state, [trigger("a"), trigger("b")])
    result = Executor(api, store, parallelism=1).run(plan, store.state)
    first = result.results[0]
    run_id = api.triggered[0][2]
    assert first.outcome is Outcome.UNKNOWN
    assert first.test_run_id == run_id
    assert f"reconciler import a {run_id}" in first.message
    # The journal is unusable: nothing else is sent.
    assert [r.outcome for r in result.results[1:]] == [Outcome.SKIPPED]
    assert len(api.triggered) == 1


def test_nothing_journaled_writes_no_state() -> None:
    store, api = MemoryStore(), FakeApi()
    api.trigger_errors["a"] = AuthenticationError("401")
    # The intent is journaled, so this apply persists; a plan with nothing to do does not.
    Executor(api, store).run(make_plan(store.state, []), store.state)
    assert store.persisted == []
