"""The attack catalogue and which slots a probe run's test cases take (pure functions)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.results.findings import fingerprint
from reconciler.simulator.catalogue import (
    ATTACKS_PER_PROBE,
    assign_slots,
    catalogue,
    messages,
    parse_attack_id,
    slot,
    window_start,
)


def identity(probe_id: int, index: int) -> str:
    where = slot(probe_id, index)
    attack = where.attack
    return fingerprint(
        probe_id, attack.attack_id, where.variation, attack.strategy, attack.red_teamer
    )


def test_the_catalogue_is_the_same_in_every_process() -> None:
    # String seeds do not depend on PYTHONHASHSEED: another interpreter draws the same.
    code = "from reconciler.simulator.catalogue import catalogue; print(catalogue(101)[:5])"
    other = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345"},
    )
    assert other.stdout.strip() == str(catalogue(101)[:5])
    assert catalogue(101) != catalogue(102)
    attacks = catalogue(101)
    assert [a.attack_id for a in attacks[:2]] == ["CTLO-101-1", "CTLO-101-2"]
    assert len({a.strategy for a in attacks}) > 1 and len({a.red_teamer for a in attacks}) > 1


def test_slots_never_share_an_identity_however_many_test_cases() -> None:
    identities = {identity(101, index) for index in range(ATTACKS_PER_PROBE * 20)}
    assert len(identities) == ATTACKS_PER_PROBE * 20
    # Past the first round an attack comes back in another variation.
    assert slot(101, 3).attack == slot(101, 3 + ATTACKS_PER_PROBE).attack
    assert slot(101, 3).variation != slot(101, 3 + ATTACKS_PER_PROBE).variation


@pytest.mark.parametrize(("probe", "index"), [(101, 6), (102, 0), (103, 47), (7, 1), (-4, 2)])
def test_attack_ids_parse_back(probe: int, index: int) -> None:
    assert parse_attack_id(slot(probe, index).attack.attack_id) == (probe, index)


@pytest.mark.parametrize(
    "text", ["CTLO-101-0", "CTLO-101-49", "JAIL-101-3", "ctlo-101-3", "CTLO-101", "101-3", ""]
)
def test_ids_outside_the_catalogue_are_refused_with_an_example(text: str) -> None:
    with pytest.raises(ValueError, match="CTLO-101-7"):
        parse_attack_id(text)


@given(
    start=st.integers(0, 500),
    failed=st.integers(0, 300),
    errored=st.integers(0, 50),
    passed=st.integers(0, 300),
    forced=st.lists(st.integers(0, ATTACKS_PER_PROBE - 1), max_size=5),
)
def test_slots_are_exact_in_number_and_never_shared(
    start: int, failed: int, errored: int, passed: int, forced: list[int]
) -> None:
    slots = assign_slots(start, failed, errored, passed, forced)
    assert (len(slots.failed), len(slots.errored), len(slots.passed)) == (failed, errored, passed)
    every = [*slots.failed, *slots.errored, *slots.passed]
    assert len(set(every)) == len(every)
    unique_forced = list(dict.fromkeys(forced))
    assert list(slots.failed[: len(unique_forced)]) == unique_forced[:failed]


def test_a_rerun_slides_the_window_by_one() -> None:
    # Run n and run n+1 of a name: all but one failing attack are the same (known), one is
    # new, and the one that left the window (fixed) passes in the next run.
    for probe in (101, 102, 103):
        before = assign_slots(window_start("nightly", probe, 0), 4, 1, 15)
        after = assign_slots(window_start("nightly", probe, 1), 4, 1, 15)
        assert len(set(before.failed) & set(after.failed)) == 3
        (fixed,) = set(before.failed) - set(after.failed)
        assert fixed in after.passed
    # Names start their windows in different places, so two keys do not fail alike.
    assert len({window_start(f"run {n}", 101, 0) for n in range(20)}) > 5


@pytest.mark.parametrize("result", ["FAILED", "PASSED", "ERROR"])
def test_every_message_needs_escaping(result: str) -> None:
    for index in range(ATTACKS_PER_PROBE):
        conversation = messages(slot(101, index), result, marker="MARKER-42")
        assert [m["role"] for m in conversation][-2:] == ["USER", "ASSISTANT"]
        for message in conversation:
            text = message["content"]
            assert "<" in text and ">" in text, text
            assert "|" in text and "`" in text and "@" in text, text
            assert text.endswith(" MARKER-42")
    attack = messages(slot(101, 0), "FAILED")[-2]["content"]
    assert "<script>alert(1)</script>" in attack
    assert "<img src=x onerror=alert(1)>" in messages(slot(101, 0), "FAILED")[-1]["content"]
