"""Findings as data: identity, duplicates, the cap, and new / known / fixed."""

from __future__ import annotations

import json

import pytest

from reconciler.results.baseline import diff
from reconciler.results.findings import (
    MAX_RECORDED,
    FindingRecord,
    RecordedFindings,
    fingerprint,
    record_findings,
)
from tests.factories import finding, recorded

RAN = frozenset({101, 102})


def test_fingerprint_ignores_case_and_blanks_but_not_content() -> None:
    base = fingerprint(101, "CTLO-6-3", "base64", "single-turn", "jailbreaker")
    assert fingerprint(101, " ctlo-6-3 ", "BASE64", "single-turn", "jail breaker") != base
    assert fingerprint(101, " ctlo-6-3 ", "BASE64", "single-turn", " jailbreaker") == base
    assert fingerprint(102, "CTLO-6-3", "base64", "single-turn", "jailbreaker") != base
    assert len(base) == 20 and int(base, 16) >= 0


def test_fields_cannot_run_into_each_other() -> None:
    # "ab" + "c" and "a" + "bc" must not hash alike.
    assert fingerprint(1, "ab", "c", None, None) != fingerprint(1, "a", "bc", None, None)
    assert fingerprint(1, "a", None, None, None) != fingerprint(1, None, "a", None, None)


def test_duplicates_merge_into_one_finding_with_a_count() -> None:
    one = finding(test_case_id="t1")
    findings = record_findings([one, finding(test_case_id="t2"), finding(attack="X")], "now")
    assert len(findings.records) == 2
    merged = next(r for r in findings.records if r.attack == "CTLO-6-3")
    assert merged.occurrences == 2 and merged.test_case_id == "t1"


def test_more_than_the_cap_are_counted_not_recorded() -> None:
    many = [finding(attack=f"A-{i}") for i in range(MAX_RECORDED + 37)]
    findings = record_findings(many, "now")
    assert len(findings.records) == MAX_RECORDED and findings.more == 37
    assert findings.total == MAX_RECORDED + 37
    # The kept ones are chosen by fingerprint: the same findings keep the same records.
    assert record_findings(list(reversed(many)), "now") == findings


def test_a_record_leaves_out_what_it_does_not_know() -> None:
    data = FindingRecord(fingerprint="f", attack="A").model_dump(mode="json")
    assert data == {"fingerprint": "f", "attack": "A"}
    assert "occurrences" in FindingRecord(fingerprint="f", occurrences=2).model_dump()
    assert FindingRecord.model_validate(data) == FindingRecord(fingerprint="f", attack="A")


def test_no_previous_run_makes_everything_new() -> None:
    result = diff(recorded(finding(attack="A"), finding(attack="B")), None, ran_probes=RAN)
    assert [r.attack for r in result.new] == ["A", "B"]
    assert result.known == () and result.fixed == () and result.determined
    assert result.describe() == "2 new, 0 known; 0 fixed"


def test_new_known_and_fixed() -> None:
    previous = recorded(finding(attack="A"), finding(attack="B"), finding(102, "C"))
    current = recorded(finding(attack="a"), finding(attack="D"))
    result = diff(current, previous, ran_probes=RAN, previous_run_id=7)
    assert [r.attack for r in result.new] == ["D"]
    assert [r.attack for r in result.known] == ["a"]
    assert [r.attack for r in result.fixed] == ["B", "C"]
    assert result.previous_run_id == 7
    assert result.describe() == "1 new, 1 known; 2 fixed"


def test_a_probe_not_run_again_fixes_nothing() -> None:
    previous = recorded(finding(101, "A"), finding(102, "C"))
    result = diff(recorded(), previous, ran_probes=frozenset({101}))
    assert [r.attack for r in result.fixed] == ["A"]


@pytest.mark.parametrize("side", ["current", "previous"])
def test_missing_attack_fields_leave_new_and_known_undetermined(side: str) -> None:
    blind = finding(attack=None, variation=None, strategy=None, red_teamer=None, test_case_id="9")
    plain = recorded(finding(attack="A"))
    with_blind = recorded(finding(attack="A"), blind)
    current, previous = (with_blind, plain) if side == "current" else (plain, with_blind)
    result = diff(current, previous, ran_probes=RAN)
    assert not result.determined
    assert result.undetermined_because == "the export named no attack for some test cases"
    assert result.known == () and result.fixed == ()
    assert result.new_count == len(current.records)
    assert result.describe().endswith("new and known not told apart")


def test_capped_runs_cannot_tell_new_from_known() -> None:
    many = record_findings([finding(attack=f"A-{i}") for i in range(MAX_RECORDED + 1)], "now")
    result = diff(many, many, ran_probes=RAN)
    assert not result.determined and result.new_count == MAX_RECORDED + 1


def test_label_names_the_attack_or_the_test_case() -> None:
    assert finding().label() == (
        "CTLO-6-3 (variation base64, strategy single-turn, red teamer jailbreaker)"
    )
    bare = FindingRecord(fingerprint="f", test_case_id="tc-1")
    assert bare.label() == "test case tc-1" and not bare.identified


def test_recorded_findings_round_trip_as_json() -> None:
    findings = recorded(finding(attack="A", probe_run_id=5), finding(attack="B"))
    data = json.loads(findings.model_dump_json())
    assert data["readAt"] == "2024-05-01T13:00:01Z" and "more" in data
    assert RecordedFindings.model_validate(data) == findings
