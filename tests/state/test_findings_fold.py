"""Findings in state: recorded through the journal on the run they belong to, wherever the key
keeps it; version 2 states read unchanged."""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.results.findings import ROW_FIELDS
from reconciler.state.codec import decode_record, decode_state, encode_record, encode_state
from reconciler.state.model import STATE_VERSION, JournalRecord, State, fold
from tests.factories import attrs, finding, recorded, result_of, tracked

DATA = Path(__file__).resolve().parents[1] / "data" / "state"
FINDINGS = recorded(finding(attack="A", probe_run_id=900100), finding(attack="B"))


def _state(**runs: object) -> State:
    return State.new().with_runs(runs)  # type: ignore[arg-type]


def _findings_record(key: str, run_id: int) -> JournalRecord:
    return JournalRecord(op="findings", key=key, test_run_id=run_id, findings=FINDINGS)


def test_findings_attach_to_the_current_runs_result() -> None:
    run = tracked(attrs(), 9001).model_copy(update={"result": result_of(9001, failed=2)})
    before = _state(k=run)
    after = fold(before, [_findings_record("k", 9001)])
    result = after.runs["k"].result
    assert result is not None and result.findings == FINDINGS
    assert after.serial == before.serial + 1


def test_findings_attach_to_an_earlier_run_in_history() -> None:
    run = tracked(attrs(), 9002).model_copy(
        update={"history": (result_of(8000), result_of(9001, failed=2))}
    )
    after = fold(_state(k=run), [_findings_record("k", 9001)])
    assert after.runs["k"].history[1].findings == FINDINGS
    assert after.runs["k"].history[0].findings is None


def test_findings_attach_to_retired_results() -> None:
    state = State.new().with_runs({}, {"gone": (result_of(9001, failed=2),)})
    after = fold(state, [_findings_record("gone", 9001)])
    assert after.retired["gone"][0].findings == FINDINGS


def test_findings_of_a_run_without_a_recorded_result_change_nothing() -> None:
    state = _state(k=tracked(attrs(), 9001))
    assert fold(state, [_findings_record("k", 9001)]) is state
    assert fold(state, [_findings_record("other", 9001)]) is state


def test_a_reread_replaces_and_replaying_it_changes_nothing() -> None:
    run = tracked(attrs(), 9001).model_copy(update={"result": result_of(9001, failed=2)})
    once = fold(_state(k=run), [_findings_record("k", 9001)])
    assert fold(once, [_findings_record("k", 9001)]) is once
    fewer = recorded(finding(attack="A"))
    again = fold(once, [JournalRecord(op="findings", key="k", test_run_id=9001, findings=fewer)])
    result = again.runs["k"].result
    assert result is not None and result.findings == fewer


def test_findings_records_round_trip_through_the_journal_format() -> None:
    record = _findings_record("k", 9001)
    line = encode_record(record)
    assert b'"op":"findings"' in line
    # Each finding is a row of values (fingerprint first), no field names.
    rows = json.loads(line)["findings"]["records"]
    assert [row[0] for row in rows] == [r.fingerprint for r in FINDINGS.records]
    assert b'"fingerprint"' not in line
    assert decode_record(line.rstrip(b"\n"), "j") == record


def test_a_result_with_findings_round_trips_and_says_no_content() -> None:
    result = result_of(9001, failed=2).model_copy(update={"findings": FINDINGS})
    run = tracked(attrs(), 9001).model_copy(update={"result": result})
    state = _state(k=run)
    data = encode_state(state)
    assert decode_state(data, "s") == state
    document = json.loads(data)
    assert document["version"] == STATE_VERSION == 3
    # Rows of at most the ten identity fields (ROW_FIELDS), one line each, nothing else.
    rows = document["runs"]["k"]["result"]["findings"]["records"]
    assert all(isinstance(row, list) and 1 <= len(row) <= len(ROW_FIELDS) for row in rows)
    assert data.count(b'\n            ["') == len(rows)


def test_a_version_2_state_reads_unchanged_and_is_written_as_version_3() -> None:
    golden = (DATA / "golden-v2.json").read_bytes()
    state = decode_state(golden, "golden-v2")
    assert state.version == 3
    assert all(run.result is None or run.result.findings is None for run in state.runs.values())
    assert encode_state(state) == golden.replace(b'"version": 2', b'"version": 3')


def test_the_golden_version_3_file_round_trips() -> None:
    golden = (DATA / "golden-v3.json").read_bytes()
    state = decode_state(golden, "golden-v3")
    result = state.runs["chatbot-jailbreak"].result
    assert result is not None and result.findings is not None
    assert len(result.findings.records) == 2
    assert encode_state(state) == golden
