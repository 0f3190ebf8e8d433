"""Recorded findings held as rows, models built on demand, a diff counted by fingerprint: what
``status`` over many runs relies on, and what must not change because of it."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.errors import StateCorruptError
from reconciler.results.baseline import FindingsDiff, diff
from reconciler.results.findings import AS_ROWS, FindingRecord, RecordedFindings, new_first_order
from reconciler.state.codec import decode_state, encode_state
from reconciler.state.model import State
from tests.factories import attrs, finding, recorded, result_of, tracked

READ_AT = "2024-05-01T13:00:01Z"


def _state_with(findings: RecordedFindings) -> State:
    result = result_of(9001, failed=2).model_copy(update={"findings": findings})
    run = tracked(attrs(), 9001).model_copy(update={"result": result})
    return State.new().with_runs({"k": run})


def test_equal_findings_stay_equal_whatever_was_built() -> None:
    findings = recorded(finding(attack="A", probe_run_id=5), finding(attack="B"))
    data = encode_state(_state_with(findings))
    decoded, twin = decode_state(data, "s"), decode_state(data, "s")
    assert decoded.runs["k"].result is not None
    assert decoded.runs["k"].result.findings is not None
    # One side has built its records (and its run's counts), the other has not.
    assert [r.attack for r in decoded.runs["k"].result.findings.records] == ["A", "B"]
    assert decoded.runs["k"].result.counts.failed == 2
    assert decoded == twin and twin == decoded
    assert decoded.runs["k"].result.findings == findings
    assert hash(decoded.runs["k"].result.findings) == hash(findings)
    # What was built is never dumped.
    assert encode_state(decoded) == encode_state(twin)


def test_a_copy_with_other_rows_builds_its_own_records() -> None:
    findings = recorded(finding(attack="A"))
    assert findings.records[0].attack == "A"
    other = findings.model_copy(update={"rows": recorded(finding(attack="B")).rows})
    assert [r.attack for r in other.records] == ["B"]
    assert [r.attack for r in findings.records] == ["A"]


def test_a_copy_with_other_probe_runs_counts_again() -> None:
    result = result_of(1, failed=3)
    assert result.counts.failed == 3
    other = result.model_copy(update={"probe_runs": result_of(2, failed=1).probe_runs})
    assert other.counts.failed == 1 and result.counts.failed == 3


@pytest.mark.parametrize(
    "rows",
    [
        [["f", None, None, "A", None]],  # a trailing unknown
        [["f", None, None, "A", None, None, None, None, None, 1]],  # the usual count, written
        [{"fingerprint": "f", "attack": "A"}],  # an object, as older states hold them
    ],
)
def test_any_form_of_a_finding_is_the_same_finding(rows: list[object]) -> None:
    canonical = RecordedFindings.model_validate(
        {"records": [["f", None, None, "A"]], "readAt": "t"}
    )
    document = {"records": rows, "readAt": "t"}
    assert RecordedFindings.model_validate(document) == canonical
    assert RecordedFindings.model_validate_json(json.dumps(document)) == canonical
    # Written back as the row ``FindingRecord.row`` gives.
    as_rows = RecordedFindings.model_validate(document).model_dump(context={AS_ROWS: True})
    assert as_rows["records"] == [["f", None, None, "A"]]


def test_records_given_in_code_keep_every_field() -> None:
    record = FindingRecord(
        fingerprint="f", probe_id=1, attack="A", detected_at="2024-05-01T12:00:00Z", occurrences=3
    )
    findings = RecordedFindings(records=(record,), read_at=READ_AT)
    assert findings.records == (record,)
    assert findings.rows == ((*record.row(),),)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("true", "probe_id"),  # a boolean is not an id, though Python would count it as 1
        ("1.0", "probe_id"),  # nor is a float
        ('{"a": 1}', "probe_id"),
    ],
)
def test_a_row_value_of_the_wrong_type_is_refused_when_the_state_is_read(
    value: str, why: str
) -> None:
    document = json.loads(encode_state(_state_with(recorded(finding(probe_id=101)))))
    rows = document["runs"]["k"]["result"]["findings"]["records"]
    rows[0][1] = json.loads(value)
    corrupt = json.dumps(document).encode()
    with pytest.raises(StateCorruptError) as caught:
        decode_state(corrupt, "state.json")
    message = str(caught.value)
    assert message.startswith("state.json: ") and "\n" not in message
    assert f"finding 0: {why}" in message


def test_a_wrong_fingerprint_or_text_is_refused() -> None:
    for row in ([1, 101], ["f", 101, None, 7], ["f", 101, None, "A", None, None, None, None, 5]):
        document = json.loads(encode_state(_state_with(recorded(finding()))))
        document["runs"]["k"]["result"]["findings"]["records"] = [["g"], row]
        with pytest.raises(StateCorruptError, match=r"s: .*finding 1: "):
            decode_state(json.dumps(document).encode(), "s")


# --- the diff's counts against its records -------------------------------------------------

_PROBES = st.sampled_from([101, 102, None])
_ATTACKS = st.sampled_from(["A", "B", "C", "D", None])


@st.composite
def _findings(draw: st.DrawFn) -> RecordedFindings:
    records = draw(st.lists(st.builds(finding, _PROBES, _ATTACKS), max_size=8))
    return recorded(*records)


@given(_findings(), st.none() | _findings(), st.frozensets(_PROBES))
def test_the_counts_are_the_lengths_of_what_views_list(
    current: RecordedFindings, previous: RecordedFindings | None, ran: frozenset[int | None]
) -> None:
    result = diff(current, previous, ran_probes=ran, previous_run_id=7)
    assert result.new_count == len(result.new) + result.more
    assert result.known_count == len(result.known)
    assert result.fixed_count == len(result.fixed)
    # The records themselves, as the diff defined them before it counted by fingerprint.
    if previous is None or not result.determined:
        assert result.new == new_first_order(current.records)
        assert result.known == () and result.fixed == ()
        return
    before = {r.fingerprint for r in previous.records}
    now = {r.fingerprint for r in current.records}
    ordered = new_first_order(current.records)
    assert result.new == tuple(r for r in ordered if r.fingerprint not in before)
    assert result.known == tuple(r for r in ordered if r.fingerprint in before)
    assert result.fixed == new_first_order(
        tuple(r for r in previous.records if r.fingerprint not in now and r.probe_id in ran)
    )


def test_a_diff_is_described_by_its_counts_alone() -> None:
    before = recorded(finding(101, "K"), finding(101, "F"))
    now = recorded(finding(101, "K"), finding(101, "N1"), finding(102, "N2"))
    result = diff(now, before, ran_probes=frozenset({101, 102}), previous_run_id=1)
    assert isinstance(result, FindingsDiff)
    assert result.describe() == "2 new, 1 known; 1 fixed"
    # Nothing was built to say so: the records come only when a view lists them.
    assert "_records_of_rows" not in now.__dict__ and "new" not in result.__dict__
    assert [r.attack for r in result.new] == ["N1", "N2"]
