"""maxNewFindings: at, under and over its limit; failing closed; the reason names the attacks."""

from __future__ import annotations

from reconciler.results.baseline import FindingsDiff, diff
from reconciler.results.gate import Gate, Outcome, evaluate
from tests.factories import finding, recorded, result_of

RAN = frozenset({101})


def _diff(new: int, known: int = 0) -> FindingsDiff:
    previous = recorded(*(finding(attack=f"K-{i}") for i in range(known)))
    current = recorded(
        *(finding(attack=f"K-{i}") for i in range(known)),
        *(finding(attack=f"N-{i}") for i in range(new)),
    )
    return diff(current, previous, ran_probes=RAN, previous_run_id=41)


def test_at_and_under_the_limit_pass() -> None:
    gate = Gate(max_new_findings=2)
    assert evaluate(result_of(42, failed=3), gate, findings=_diff(2, 1)).passed
    assert evaluate(result_of(42, failed=2), gate, findings=_diff(1, 1)).passed


def test_over_the_limit_fails_naming_the_first_five_new_attacks() -> None:
    verdict = evaluate(result_of(42, failed=7), Gate(max_new_findings=0), findings=_diff(7))
    assert verdict.outcome is Outcome.FAILED and not verdict.undecided
    (reason,) = verdict.reasons
    assert reason.startswith("7 new findings than the previous run 41, at most 0 allowed: N-0 (")
    assert "N-4 (" in reason and "N-5" not in reason and reason.endswith("; and 2 more")


def test_no_previous_run_says_all_are_new() -> None:
    current = recorded(finding(attack="A"))
    verdict = evaluate(
        result_of(42, failed=1),
        Gate(max_new_findings=0),
        findings=diff(current, None, ran_probes=RAN),
    )
    assert "(no previous run: all are new)" in verdict.reasons[0]


def test_unknown_findings_fail_closed_as_undecided() -> None:
    verdict = evaluate(
        result_of(42, failed=2),
        Gate(max_new_findings=5),
        findings=None,
        findings_unknown="the export answered 500",
    )
    assert verdict.failed and verdict.undecided
    assert verdict.reasons == (
        "maxNewFindings 5 cannot be checked: the findings are not known (the export answered 500)",
    )


def test_a_real_failure_beside_unknown_findings_is_not_undecided() -> None:
    verdict = evaluate(
        result_of(42, failed=2), Gate(max_new_findings=5, max_failed=0), findings=None
    )
    assert verdict.failed and not verdict.undecided and len(verdict.reasons) == 2


def test_findings_that_cannot_be_told_apart_count_as_new_and_say_why() -> None:
    blind = finding(attack=None, variation=None, strategy=None, red_teamer=None, test_case_id="1")
    undetermined = diff(recorded(blind), recorded(finding()), ran_probes=RAN)
    verdict = evaluate(result_of(42, failed=1), Gate(max_new_findings=0), findings=undetermined)
    assert verdict.failed and not verdict.undecided
    assert "cannot be told from known ones" in verdict.reasons[0]
    assert evaluate(result_of(42, failed=1), Gate(max_new_findings=1), findings=undetermined).passed


def test_without_the_limit_findings_change_nothing() -> None:
    assert evaluate(result_of(42, failed=3), Gate(), findings=None).passed


def test_the_limit_merges_like_the_others() -> None:
    assert Gate(max_failed=1).over(Gate(max_new_findings=0)).max_new_findings == 0
    assert "maxNewFindings 0" in Gate(max_new_findings=0).describe()
