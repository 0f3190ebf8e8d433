"""Safety rails: protect, empty desired set, mass cancel/replace."""

from __future__ import annotations

import pytest

from reconciler.errors import UnsafePlanError
from reconciler.plan.diff import make_plan
from reconciler.plan.safety import MASS_CHANGE_MAX_PERCENT, MASS_CHANGE_MIN_TRACKED, check_plan
from reconciler.spec.model import DesiredSet
from reconciler.state.model import State
from tests.factories import attrs, tracked
from tests.plan.factories import desired, drun, state


def check(
    want: DesiredSet,
    have: State,
    *,
    force: bool = False,
    allow_empty: bool = False,
    **options: object,
) -> None:
    plan = make_plan(want, have, **options)  # type: ignore[arg-type]
    check_plan(plan, want, have, force=force, allow_empty=allow_empty)


def tracked_runs(count: int, *, changed: int = 0, removed: int = 0) -> tuple[DesiredSet, State]:
    """``count`` tracked runs; the first ``changed`` differ in the specs, the next ``removed``
    are gone from them."""
    runs = []
    for i in range(count):
        if changed <= i < changed + removed:
            continue
        target = 2 if i < changed else 1
        runs.append(drun(f"r{i:02d}", attrs(name=f"r{i:02d}", target_id=target)))
    have = state(
        {f"r{i:02d}": tracked(attrs(name=f"r{i:02d}", target_id=1), i) for i in range(count)}
    )
    return desired(*runs), have


def test_thresholds_are_the_documented_ones() -> None:
    assert (MASS_CHANGE_MIN_TRACKED, MASS_CHANGE_MAX_PERCENT) == (10, 30)


# --- mass cancel / replace ------------------------------------------------------------------


def test_nine_tracked_runs_may_all_be_replaced() -> None:
    check(*tracked_runs(9, changed=9))


def test_ten_tracked_runs_with_exactly_thirty_percent_changing_pass() -> None:
    check(*tracked_runs(10, changed=2, removed=1))


def test_ten_tracked_runs_with_forty_percent_changing_are_refused() -> None:
    with pytest.raises(UnsafePlanError) as err:
        check(*tracked_runs(10, changed=2, removed=2))
    message = str(err.value)
    assert "cancels or replaces 4 of 10 tracked runs (40%)" in message
    assert "--force" in message


def test_just_above_thirty_percent_is_refused_and_never_printed_as_thirty() -> None:
    # 31 of 100 → refused; 30 of 100 → allowed.
    check(*tracked_runs(100, removed=30))
    with pytest.raises(UnsafePlanError, match=r"31 of 100 tracked runs \(31%\)"):
        check(*tracked_runs(100, removed=31))
    with pytest.raises(UnsafePlanError, match=r"4 of 13 tracked runs \(31%\)"):
        check(*tracked_runs(13, removed=4))


def test_force_overrides_the_mass_change_rail() -> None:
    check(*tracked_runs(10, removed=10), force=True, allow_empty=True)
    check(*tracked_runs(10, changed=10), force=True)


def test_triggers_do_not_count_towards_the_mass_change_rail() -> None:
    want, have = tracked_runs(10)
    more = desired(*want.runs.values(), *(drun(f"new{i}") for i in range(50)))
    check(more, have)


def test_replace_requested_counts_towards_the_mass_change_rail() -> None:
    want, have = tracked_runs(10)
    with pytest.raises(UnsafePlanError):
        check(want, have, replace=["r00", "r01", "r02", "r03"])


# --- empty desired set ----------------------------------------------------------------------


def test_empty_specs_against_a_non_empty_state_are_refused() -> None:
    have = state({"a": tracked(attrs())})
    with pytest.raises(UnsafePlanError) as err:
        check(desired(), have)
    message = str(err.value)
    assert "the specs declare no test runs, but the state tracks 1" in message
    assert "--allow-empty" in message
    assert "reconciler destroy" in message


def test_allow_empty_lets_an_empty_desired_set_cancel_a_small_state() -> None:
    check(desired(), state({"a": tracked(attrs())}), allow_empty=True)


def test_empty_specs_against_an_empty_state_are_fine() -> None:
    check(desired(), state())


def test_force_does_not_replace_allow_empty() -> None:
    with pytest.raises(UnsafePlanError, match="--allow-empty"):
        check(desired(), state({"a": tracked(attrs())}), force=True)


def test_destroy_is_exempt_from_the_empty_and_mass_rails() -> None:
    want, have = tracked_runs(20)
    check(desired(), have, destroy=True)
    check(want, have, destroy=True)


# --- protect --------------------------------------------------------------------------------


def protected_case(new_target: int) -> tuple[DesiredSet, State]:
    run = drun("guarded", attrs(target_id=new_target), file="specs/prod.yaml", line=8, protect=True)
    return desired(run), state({"guarded": tracked(attrs(target_id=1), 77)})


def test_protected_run_with_changed_fields_is_refused_even_with_force() -> None:
    with pytest.raises(UnsafePlanError) as err:
        check(*protected_case(2), force=True, allow_empty=True)
    message = str(err.value)
    assert "guarded (specs/prod.yaml:8): would be replaced" in message
    assert "Remove `protect: true`" in message
    assert "separate change" in message


def test_protected_run_cannot_be_force_replaced() -> None:
    with pytest.raises(UnsafePlanError, match=r"guarded .*would be replaced"):
        check(*protected_case(1), replace=["guarded"])


def test_unchanged_protected_run_passes() -> None:
    check(*protected_case(1))


def test_protected_run_blocks_destroy() -> None:
    with pytest.raises(UnsafePlanError, match=r"guarded .*would be cancelled"):
        check(*protected_case(1), destroy=True)


def test_protected_new_run_is_triggered() -> None:
    run = drun("fresh", protect=True)
    check(desired(run), state())


def test_every_protected_run_is_named() -> None:
    runs = [drun(k, attrs(target_id=2), line=i + 1, protect=True) for i, k in enumerate("ab")]
    have = state({k: tracked(attrs(target_id=1)) for k in "ab"})
    with pytest.raises(UnsafePlanError) as err:
        check(desired(*runs), have)
    assert "a (specs/runs.yaml:1)" in str(err.value)
    assert "b (specs/runs.yaml:2)" in str(err.value)
