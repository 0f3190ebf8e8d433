"""How an outcome rule's run totals are shared out over a run's probe runs (pure functions)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from reconciler.limits import INT32_MAX
from reconciler.simulator.outcomes import CaseCount, probe_weights, share
from reconciler.simulator.runs import RunStatus, plan_probes

PROBES = [101, 102, 103, 104]


def plan(
    run_id: int, *, failed: CaseCount | None = None, errored: CaseCount | None = None
) -> list[tuple[int, int, int]]:
    """(total, failed, errored) of each probe run of run ``run_id``, 20 test cases a probe."""
    probes = plan_probes(
        PROBES,
        1,
        test_run_id=run_id,
        cases_per_probe=20,
        failed=failed,
        errored=errored,
        end_status=RunStatus.FINISHED,
    )
    return [(p.total, p.failed, p.errored) for p in probes]


def test_a_runs_failures_land_on_every_probe_over_many_runs_not_on_the_first() -> None:
    # One failed test case a run: which probe run has it depends on the run, not on its
    # position, so a report's heat map is not one hot column.
    holders = [
        next(index for index, (_, failed, _) in enumerate(plan(run_id, failed=1)) if failed)
        for run_id in range(1001, 1101)
    ]
    assert set(holders) == {0, 1, 2, 3}
    assert max(holders.count(i) for i in range(4)) < 50


def test_the_split_is_uneven_and_the_same_for_the_same_run() -> None:
    splits = {run_id: plan(run_id, failed=12) for run_id in range(1001, 1021)}
    assert all(plan(run_id, failed=12) == split for run_id, split in splits.items())
    failed = [tuple(f for _, f, _ in split) for split in splits.values()]
    assert len(set(failed)) > 10  # runs differ
    assert any(max(f) >= 2 * min(f) + 2 for f in failed)  # some probe runs find far more


def test_totals_and_per_probe_counts_are_what_the_rule_says() -> None:
    for run_id in range(1001, 1051):
        probe_runs = plan(run_id, failed=9, errored=5)
        assert sum(f for _, f, _ in probe_runs) == 9
        assert sum(e for _, _, e in probe_runs) == 5
        assert all(total == 20 for total, _, _ in probe_runs)  # 14 fit in 80 test cases
        by_probe = plan(run_id, failed={102: 3}, errored={104: 2})
        assert by_probe == [(20, 0, 0), (20, 3, 0), (20, 0, 0), (20, 0, 2)]


def test_errored_cases_fill_the_room_failed_ones_leave() -> None:
    # 75 of 80 test cases fail: the 5 errored ones must go where there is room left, and
    # no probe run needs more than its 20 test cases.
    for run_id in range(1001, 1051):
        probe_runs = plan(run_id, failed=75, errored=5)
        assert [total for total, _, _ in probe_runs] == [20, 20, 20, 20]
        assert all(f + e <= 20 for _, f, e in probe_runs)


@given(
    total=st.integers(min_value=0, max_value=INT32_MAX),
    weights=st.lists(st.integers(min_value=1, max_value=100), min_size=1, max_size=12),
    data=st.data(),
)
def test_share_is_exact_and_keeps_to_the_room_while_there_is_any(
    total: int, weights: list[int], data: st.DataObject
) -> None:
    room = data.draw(st.lists(st.integers(0, 60), min_size=len(weights), max_size=len(weights)))
    shares = share(total, weights, room)
    assert sum(shares) == total and all(s >= 0 for s in shares)
    if total <= sum(room):
        assert all(s <= r for s, r in zip(shares, room, strict=True))
    else:
        assert all(s >= r for s, r in zip(shares, room, strict=True))  # all full, then more
        extra = [s - r for s, r in zip(shares, room, strict=True)]
        assert max(extra) - min(extra) <= 1  # the overflow is even


def test_weights_come_from_the_run_id_alone() -> None:
    assert probe_weights(1001, 4) == probe_weights(1001, 4)
    assert probe_weights(1001, 4) != probe_weights(1002, 4)
    assert all(1 <= w <= 100 for w in probe_weights(7, 50))
    assert share(1, [1, 100, 4], [20, 20, 20]) == [0, 1, 0]  # a single case: the heaviest
