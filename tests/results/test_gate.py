"""Gates: each limit at, just under and just over its value; failOn; regressions."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from reconciler.results.gate import Gate, Outcome, evaluate, previous_result
from tests.factories import result_of


@pytest.mark.parametrize(
    ("failed", "outcome"), [(1, Outcome.PASSED), (2, Outcome.PASSED), (3, Outcome.FAILED)]
)
def test_max_failed_at_under_and_over(failed: int, outcome: Outcome) -> None:
    verdict = evaluate(result_of(1, failed=failed), Gate(max_failed=2))
    assert verdict.outcome is outcome
    if outcome is Outcome.FAILED:
        assert verdict.reasons == ("3 failed test cases, at most 2 allowed",)


@pytest.mark.parametrize(
    ("failed", "outcome"), [(4, Outcome.PASSED), (5, Outcome.PASSED), (6, Outcome.FAILED)]
)
def test_max_failed_rate_at_under_and_over(failed: int, outcome: Outcome) -> None:
    verdict = evaluate(result_of(1, failed=failed, total=100), Gate(max_failed_rate=0.05))
    assert verdict.outcome is outcome


def test_max_failed_rate_reason_names_the_numbers() -> None:
    verdict = evaluate(result_of(1, failed=6, total=100), Gate(max_failed_rate=0.05))
    assert verdict.reasons == ("6% of test cases failed (6 of 100), at most 5% allowed",)


@pytest.mark.parametrize(
    ("errored", "outcome"), [(0, Outcome.PASSED), (1, Outcome.PASSED), (2, Outcome.FAILED)]
)
def test_max_errored_at_under_and_over(errored: int, outcome: Outcome) -> None:
    assert evaluate(result_of(1, errored=errored), Gate(max_errored=1)).outcome is outcome


@pytest.mark.parametrize("status", ["Error", "Canceled", "ERROR", "CANCELED"])
def test_default_fail_on_fails_error_and_canceled(status: str) -> None:
    verdict = evaluate(result_of(1, status=status), Gate())
    assert verdict.failed
    assert verdict.reasons == (f"ended in {status.capitalize()}",)


def test_finished_passes_the_default_gate_whatever_it_found() -> None:
    assert evaluate(result_of(1, failed=9), Gate()).passed


def test_fail_on_can_be_narrowed_and_widened() -> None:
    assert evaluate(result_of(1, status="Canceled"), Gate(fail_on=["Error"])).passed  # type: ignore[arg-type]
    assert evaluate(result_of(1, status="Finished"), Gate(fail_on=["finished"])).failed  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [["Running"], ["Done"], [1]])
def test_fail_on_refuses_what_is_not_an_ended_status(bad: list[object]) -> None:
    with pytest.raises(ValidationError, match="not an ended status"):
        Gate.model_validate({"failOn": bad})


@pytest.mark.parametrize(
    "bad",
    [
        {"maxFailed": -1},
        {"maxFailedRate": 1.5},
        {"maxFailedRate": -0.1},
        {"maxErrored": True},
        {"maxFaild": 1},
    ],
)
def test_bad_values_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Gate.model_validate(bad)


def test_a_run_not_ended_is_pending() -> None:
    assert (
        evaluate(result_of(1, status="Running", failed=5), Gate(max_failed=0)).outcome
        is Outcome.PENDING
    )
    assert evaluate(None, Gate()).outcome is Outcome.PENDING
    assert evaluate(result_of(1, status="Queued"), Gate()).outcome is Outcome.PENDING


def test_several_limits_give_several_reasons() -> None:
    verdict = evaluate(
        result_of(1, status="Error", failed=3, errored=2), Gate(max_failed=0, max_errored=0)
    )
    assert verdict.reasons == (
        "ended in Error",
        "3 failed test cases, at most 0 allowed",
        "2 errored test cases, at most 0 allowed",
    )


@pytest.mark.parametrize(
    ("before", "after", "outcome"),
    [(3, 3, Outcome.PASSED), (3, 2, Outcome.PASSED), (3, 4, Outcome.FAILED)],
)
def test_max_failed_increase_against_the_previous_result(
    before: int, after: int, outcome: Outcome
) -> None:
    verdict = evaluate(
        result_of(2, failed=after), Gate(max_failed_increase=0), result_of(1, failed=before)
    )
    assert verdict.outcome is outcome
    if verdict.failed:
        assert verdict.reasons == (
            "4 failed test cases, 1 more than the previous run 1 (3); at most 0 more allowed",
        )


def test_max_failed_increase_without_a_previous_result_does_not_apply_and_says_so() -> None:
    verdict = evaluate(result_of(2, failed=10), Gate(max_failed_increase=0))
    assert verdict.passed
    assert verdict.notes == (
        "no previous result of this key: maxFailedIncrease does not apply yet",
    )


def test_the_previous_result_skips_runs_that_did_not_finish() -> None:
    history = (result_of(1), result_of(2, status="Canceled"))
    previous = previous_result(history)
    assert previous is not None and previous.test_run_id == 1
    assert previous_result(()) is None


def test_more_specific_gates_win_field_by_field() -> None:
    config = Gate(max_failed=5, fail_on=["Error"])  # type: ignore[arg-type]
    defaults = Gate(max_errored=1)
    run = Gate(max_failed=0)
    merged = run.over(defaults.over(config))
    assert (merged.max_failed, merged.max_errored, merged.fail_on) == (0, 1, ("Error",))
    assert merged.describe() == "maxFailed 0, maxErrored 1, failOn [Error]"
