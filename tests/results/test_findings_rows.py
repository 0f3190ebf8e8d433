"""Findings as rows: the form state and the journal keep them in (half the bytes of objects)."""

from __future__ import annotations

import json

import pytest

from reconciler.errors import StateCorruptError
from reconciler.results.findings import (
    AS_ROWS,
    ROW_FIELDS,
    FindingRecord,
    RecordedFindings,
    record_findings,
)
from reconciler.results.model import RunResult
from reconciler.state.codec import decode_state, encode_state
from reconciler.state.model import State
from tests.factories import attrs, finding, recorded, result_of, tracked

FULL = FindingRecord(
    fingerprint="0123456789abcdef0123",
    probe_id=101,
    probe_run_id=7,
    attack="CTLO-6-3",
    variation=None,
    strategy="multi-turn",
    red_teamer="Eve",
    test_case_id="tc-1",
    detected_at="2024-05-01T12:00:00Z",
    occurrences=3,
)


def test_a_row_keeps_unknowns_in_the_middle_and_drops_them_at_the_end() -> None:
    assert FULL.row() == [
        "0123456789abcdef0123", 101, 7, "CTLO-6-3", None, "multi-turn", "Eve", "tc-1",
        "2024-05-01T12:00:00Z", 3,
    ]  # fmt: skip
    assert len(FULL.row()) == len(ROW_FIELDS)
    # A single occurrence and trailing unknowns are left out.
    bare = FindingRecord(fingerprint="f", probe_id=None, attack="A")
    assert bare.row() == ["f", None, None, "A"]
    assert FindingRecord(fingerprint="f").row() == ["f"]


def test_rows_round_trip_and_only_state_asks_for_them() -> None:
    findings = RecordedFindings(records=(FULL, finding(attack="B")), read_at="2024-05-01T13:00:01Z")
    as_rows = findings.model_dump(mode="json", context={AS_ROWS: True})
    assert all(isinstance(row, list) for row in as_rows["records"])
    assert RecordedFindings.model_validate(as_rows) == findings
    assert RecordedFindings.model_validate_json(json.dumps(as_rows)) == findings
    # Every other dump (plan JSON, `state show --json`) keeps named fields.
    plain = findings.model_dump(mode="json")
    assert plain["records"][0]["attack"] == "CTLO-6-3"
    assert RecordedFindings.model_validate(plain) == findings


def _state_with(findings: RecordedFindings) -> State:
    result = result_of(9001, failed=2).model_copy(update={"findings": findings})
    run = tracked(attrs(), 9001).model_copy(update={"result": result})
    return State.new().with_runs({"k": run})


def test_a_state_with_records_as_objects_still_reads_and_is_written_as_rows() -> None:
    findings = recorded(finding(attack="A", probe_run_id=5), finding(attack="B"))
    state = _state_with(findings)
    document = json.loads(encode_state(state))
    as_objects = findings.model_dump(mode="json")["records"]
    assert "attack" in as_objects[0]
    document["runs"]["k"]["result"]["findings"]["records"] = as_objects
    objects = json.dumps(document).encode()
    assert decode_state(objects, "s") == state
    assert encode_state(decode_state(objects, "s")) == encode_state(state)


@pytest.mark.parametrize("row", [[], ["f", *[None] * len(ROW_FIELDS)]])
def test_a_row_of_the_wrong_length_is_a_corrupt_state(row: list[object]) -> None:
    document = json.loads(encode_state(_state_with(recorded(finding()))))
    document["runs"]["k"]["result"]["findings"]["records"] = [row]
    with pytest.raises(StateCorruptError, match=r"s: .*a findings row holds 1 to 10 values"):
        decode_state(json.dumps(document).encode(), "s")


def test_a_row_with_a_wrong_value_is_a_corrupt_state() -> None:
    document = json.loads(encode_state(_state_with(recorded(finding()))))
    document["runs"]["k"]["result"]["findings"]["records"] = [["f", "not a probe id"]]
    with pytest.raises(StateCorruptError, match=r"probeId|probe_id"):
        decode_state(json.dumps(document).encode(), "s")


def test_outside_state_a_result_dumps_its_findings_as_named_records_first() -> None:
    # Plan JSON keeps the order of the dump (its keys are not sorted): records first, each
    # without its unknowns and a single occurrence; unread findings left out.
    findings = record_findings(
        [FULL, FindingRecord(fingerprint="f", probe_id=0, attack="")], "2024-05-01T13:00:01Z"
    )
    result = RunResult(
        test_run_id=9, status="Finished", seen_at="2024-05-01T13:00:00Z", findings=findings
    )
    head = '{"testRunId": 9, "status": "Finished", "executionDate": null, "probeRuns": [], '
    head += '"seenAt": "2024-05-01T13:00:00Z"'
    assert json.dumps(result.model_dump(mode="json")) == (
        f'{head}, "findings": {{"records": [{{"fingerprint": "0123456789abcdef0123", '
        '"probeId": 101, "probeRunId": 7, "attack": "CTLO-6-3", "strategy": "multi-turn", '
        '"redTeamer": "Eve", "testCaseId": "tc-1", "detectedAt": "2024-05-01T12:00:00Z", '
        '"occurrences": 3}, {"fingerprint": "f", "probeId": 0, "attack": ""}], "more": 0, '
        '"readAt": "2024-05-01T13:00:01Z"}}'
    )
    unread = result.model_copy(update={"findings": None})
    assert json.dumps(unread.model_dump(mode="json")) == head + "}"
