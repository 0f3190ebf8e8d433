"""Results in state: how ``fold`` records them and what a replaced run leaves behind."""

from __future__ import annotations

from reconciler.state.model import HISTORY_LIMIT, JournalRecord, State, fold
from tests.factories import attrs, result_of, tracked


def _state(**runs: object) -> State:
    return State(lineage="l", serial=1, runs=runs)  # type: ignore[arg-type]


def _result(key: str, run_id: int, **kw: object) -> JournalRecord:
    return JournalRecord(op="result", key=key, test_run_id=run_id, result=result_of(run_id, **kw))  # type: ignore[arg-type]


def test_an_ended_result_is_recorded_on_its_run() -> None:
    state = fold(_state(a=tracked(attrs(), 7)), [_result("a", 7, failed=2)])
    run = state.runs["a"]
    assert run.result is not None and run.result.counts.failed == 2
    assert run.ended and state.serial == 2


def test_a_result_for_another_run_of_the_key_changes_nothing() -> None:
    before = _state(a=tracked(attrs(), 8))
    assert fold(before, [_result("a", 7)]) is before


def test_a_run_that_has_not_ended_is_not_recorded() -> None:
    before = _state(a=tracked(attrs(), 7))
    assert fold(before, [_result("a", 7, status="Running")]) is before


def test_the_first_final_result_is_kept() -> None:
    state = fold(
        _state(a=tracked(attrs(), 7)), [_result("a", 7, failed=1), _result("a", 7, failed=5)]
    )
    result = state.runs["a"].result
    assert result is not None and result.counts.failed == 1


def test_a_replacement_keeps_the_replaced_runs_result_as_history() -> None:
    state = fold(
        _state(a=tracked(attrs(), 7)),
        [
            _result("a", 7, failed=3),
            JournalRecord(op="cancel-intent", key="a", test_run_id=7),
            JournalRecord(op="cancel-done", key="a", test_run_id=7),
            JournalRecord(op="trigger-intent", key="a", attributes=attrs(name="new")),
            JournalRecord(op="trigger-done", key="a", test_run_id=9),
        ],
    )
    run = state.runs["a"]
    assert run.test_run_id == 9 and run.result is None
    assert [r.test_run_id for r in run.history] == [7]
    assert run.history[0].counts.failed == 3


def test_a_re_trigger_without_cancel_keeps_history_too() -> None:
    # A run that ended (cancelled outside, error) is triggered again without a cancel.
    state = fold(
        _state(a=tracked(attrs(), 7)),
        [
            _result("a", 7, status="Canceled"),
            JournalRecord(op="trigger-intent", key="a", attributes=attrs()),
            JournalRecord(op="trigger-done", key="a", test_run_id=9),
        ],
    )
    assert [r.status for r in state.runs["a"].history] == ["Canceled"]


def test_history_is_bounded_and_keeps_the_newest() -> None:
    records: list[JournalRecord] = []
    for run_id in range(1, HISTORY_LIMIT + 4):
        records += [
            JournalRecord(op="trigger-intent", key="a", attributes=attrs()),
            JournalRecord(op="trigger-done", key="a", test_run_id=run_id),
            _result("a", run_id),
        ]
    run = fold(_state(), records).runs["a"]
    last = HISTORY_LIMIT + 3
    assert run.result is not None and run.result.test_run_id == last
    assert [r.test_run_id for r in run.history] == list(range(last - HISTORY_LIMIT, last))


def test_an_unknown_outcome_keeps_the_history() -> None:
    state = fold(
        _state(a=tracked(attrs(), 7)),
        [
            _result("a", 7),
            JournalRecord(op="trigger-intent", key="a", attributes=attrs()),
        ],
    )
    run = state.runs["a"]
    assert run.status == "unknown"
    assert [r.test_run_id for r in run.history] == [7]


def test_upper_case_statuses_are_recorded_in_the_products_spelling() -> None:
    state = fold(_state(a=tracked(attrs(), 7)), [_result("a", 7, status="FINISHED")])
    result = state.runs["a"].result
    assert result is not None and result.status == "Finished"


def test_results_survive_a_crash_between_the_cancel_and_the_trigger_of_a_replace() -> None:
    # The first fold ends after the cancel (a crash, then recovery); the trigger comes in a
    # later apply. The cancelled run's result waits in ``retired`` for the key's next run.
    after_cancel = fold(
        _state(a=tracked(attrs(), 7)),
        [
            _result("a", 7, failed=3),
            JournalRecord(op="cancel-intent", key="a", test_run_id=7),
            JournalRecord(op="cancel-done", key="a", test_run_id=7),
        ],
    )
    assert "a" not in after_cancel.runs
    assert [r.test_run_id for r in after_cancel.retired["a"]] == [7]
    later = fold(
        after_cancel,
        [
            JournalRecord(op="trigger-intent", key="a", attributes=attrs()),
            JournalRecord(op="trigger-done", key="a", test_run_id=9),
        ],
    )
    assert [r.test_run_id for r in later.runs["a"].history] == [7]
    assert later.retired == {}
