"""The state and journal codec: determinism, refusals, upgrades."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.errors import StateCorruptError, StateVersionError
from reconciler.records import RunAttributes
from reconciler.results.findings import RecordedFindings
from reconciler.results.model import Counts, ProbeRunResult, RunResult
from reconciler.state import codec
from reconciler.state.codec import (
    JOURNAL_VERSION,
    decode_journal,
    decode_state,
    encode_header,
    encode_record,
    encode_state,
)
from reconciler.state.model import STATE_VERSION, JournalRecord, State, TrackedRun
from reconciler.state.pretty import pretty
from tests.factories import attrs
from tests.state.contract import DATA

int32 = st.integers(min_value=-(2**31), max_value=2**31 - 1)


# Built through plain functions so hypothesis does not introspect the models' annotations
# (it warns about pydantic's Strict markers, and warnings are errors here).
def _attributes(**fields: Any) -> RunAttributes:
    return RunAttributes(**fields)


def _tracked(**fields: Any) -> TrackedRun:
    return TrackedRun(**fields)


def _state(**fields: Any) -> State:
    return State(**fields)


run_attributes = st.builds(
    _attributes,
    workspace_id=int32,
    target_id=int32,
    probe_ids=st.lists(int32, max_size=4).map(lambda ids: tuple(sorted(set(ids)))),
    name=st.text(max_size=20),
    run_ai_analysis=st.booleans(),
    notify_when_finished=st.booleans(),
)
tracked_runs = st.builds(
    _tracked,
    status=st.sampled_from(["triggered", "unknown"]),
    test_run_id=st.none() | int32,
    attributes=run_attributes,
    triggered_at=st.just("2024-05-01T10:00:00Z"),
    note=st.text(max_size=10),
)
states = st.builds(
    _state,
    lineage=st.uuids().map(str),
    serial=st.integers(min_value=0, max_value=10**6),
    runs=st.dictionaries(st.text(min_size=1, max_size=12), tracked_runs, max_size=5),
)


@given(states)
def test_state_round_trips_to_the_same_bytes(state: State) -> None:
    data = encode_state(state)
    assert decode_state(data, "s") == state
    assert encode_state(decode_state(data, "s")) == data
    assert data.endswith(b"\n")
    assert not data.endswith(b"\n\n")


def test_state_keys_are_sorted_and_camel_case() -> None:
    state = State.new().with_runs(
        {"b": TrackedRun(test_run_id=1, attributes=attrs(target_id=1), triggered_at="t")}
    )
    document = json.loads(encode_state(state))
    run = document["runs"]["b"]
    assert list(run) == sorted(run)
    assert "testRunId" in run
    assert "workspaceId" in run["attributes"]


def test_version_zero_upgrades_to_the_current_format() -> None:
    state = decode_state((DATA / "v0.json").read_bytes(), "v0.json")
    assert encode_state(state) == (DATA / "v0-upgraded.json").read_bytes()
    assert state.version == STATE_VERSION
    assert state.runs["chatbot-jailbreak"].attributes.probe_ids == (101, 102)


def test_a_broken_upgrade_is_a_corrupt_state() -> None:
    document = json.loads((DATA / "v0.json").read_bytes())
    del document["testRuns"][0]["id"]
    with pytest.raises(StateCorruptError, match="cannot upgrade state format version 0"):
        decode_state(json.dumps(document).encode(), "old.json")


def test_a_version_without_an_upgrade_step_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codec, "UPGRADES", {})
    with pytest.raises(StateVersionError, match="too old"):
        decode_state((DATA / "v0.json").read_bytes(), "old.json")


@pytest.mark.parametrize("version", ["1", True, -1, None, 1.0])
def test_an_invalid_version_is_refused(version: object) -> None:
    data = json.dumps({"version": version, "lineage": "x", "serial": 0, "runs": {}}).encode()
    with pytest.raises(StateCorruptError, match="version"):
        decode_state(data, "s.json")


def test_errors_name_the_location_and_position() -> None:
    with pytest.raises(StateCorruptError) as caught:
        decode_state(b'{\n  "version": 1,\n  "lineage" "x"\n}\n', "state/x.json")
    assert str(caught.value).startswith("state/x.json: invalid JSON at line 3, column 13")
    assert "docs/STATE.md" in str(caught.value)


def test_unknown_fields_are_refused() -> None:
    data = json.dumps({"version": 1, "lineage": "x", "serial": 0, "runs": {}, "extra": 1})
    with pytest.raises(StateCorruptError, match="extra"):
        decode_state(data.encode(), "s.json")


# --- journal ---------------------------------------------------------------------------------


def journal_bytes(*records: JournalRecord) -> bytes:
    return encode_header("lin", 4) + b"".join(encode_record(r) for r in records)


RECORDS = [
    JournalRecord(
        op="trigger-intent", key="a", attributes=attrs(target_id=1), at="2024-05-01T10:00:00Z"
    ),
    JournalRecord(op="trigger-done", key="a", test_run_id=9, at="2024-05-01T10:00:01Z"),
    JournalRecord(op="cancel-failed", key="b", test_run_id=3, note="500 after retries"),
]


def test_journal_round_trips() -> None:
    journal = decode_journal(journal_bytes(*RECORDS), "j")
    assert journal is not None
    assert journal.header.lineage == "lin"
    assert journal.header.serial == 4
    assert journal.header.journal == JOURNAL_VERSION
    assert journal.records == RECORDS
    assert journal.torn_note == ""


def test_journal_lines_are_compact_single_lines() -> None:
    line = encode_record(RECORDS[0])
    assert line.count(b"\n") == 1
    assert line.endswith(b"\n")
    assert b": " not in line
    assert b"testRunId" not in line, "absent values are left out"


def test_a_torn_last_journal_line_is_dropped_with_a_note() -> None:
    data = journal_bytes(*RECORDS) + encode_record(RECORDS[0])[:15]
    journal = decode_journal(data, "x.journal")
    assert journal is not None
    assert journal.records == RECORDS
    assert "x.journal" in journal.torn_note
    assert "incomplete last line" in journal.torn_note


def test_an_empty_or_headless_journal_is_nothing() -> None:
    assert decode_journal(b"", "j") is None
    assert decode_journal(encode_header("lin", 0)[:10], "j") is None


def test_a_broken_line_in_the_middle_is_refused() -> None:
    good = journal_bytes(*RECORDS).split(b"\n")
    good[2] = b'{"op": "trigger-done", "key": 5}'
    with pytest.raises(StateCorruptError, match=r"x\.journal, line 3: not a journal record"):
        decode_journal(b"\n".join(good), "x.journal")


def test_a_journal_without_a_header_is_refused() -> None:
    with pytest.raises(StateCorruptError, match="line 1: not a journal header"):
        decode_journal(encode_record(RECORDS[0]) * 2, "j")


def test_a_journal_of_a_newer_format_is_refused() -> None:
    header = json.dumps({"journal": JOURNAL_VERSION + 1, "lineage": "x", "serial": 0})
    with pytest.raises(StateVersionError, match="newer reconciler"):
        decode_journal(header.encode() + b"\n", "j")


def test_one_record_decodes_alone_with_the_shared_wording() -> None:
    for record in RECORDS:
        assert codec.decode_record(encode_record(record), "row 1") == record
    with pytest.raises(StateCorruptError) as caught:
        codec.decode_record(b'{"op": "explode"}', "row 7", "; inspect row 7")
    assert str(caught.value).startswith("row 7: not a journal record: op:")
    assert str(caught.value).endswith("; inspect row 7")
    with pytest.raises(StateCorruptError, match=r"row 8: invalid JSON"):
        codec.decode_record(b"{", "row 8")


json_values = st.recursive(
    st.none() | st.booleans() | int32 | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=6).filter(lambda k: k != "findings"), inner, max_size=4)
    ),
    max_leaves=30,
)


@given(json_values)
def test_the_state_is_indented_exactly_as_json_dumps_would(document: Any) -> None:
    # The state file's layout predates the codec's own writer: files written before it must
    # not change on the next write (findings rows aside, which are new).
    expected = json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert pretty(document) == expected.encode()


# --- bytes pinned: what the documents leave out, and what they keep ----------------------------

_AT = "2024-05-01T13:00:00Z"
_FINDINGS = RecordedFindings(rows=(("f1", 101, None, "A"), ("f2",)), more=1, read_at=_AT)
_ENDED = RunResult(
    test_run_id=9,
    status="Finished",
    probe_runs=(
        ProbeRunResult(probe_name="P", status="Finished", counts=Counts(total=2, failed=1)),
    ),
    seen_at=_AT,
)


def test_journal_lines_byte_for_byte() -> None:
    # A line leaves out the record's unset fields and a result's nulls (exclude_none), and a
    # run's unset revision; ``probeIds: null`` (the target's configured probes) is a value and
    # stays. Findings are rows.
    records = [
        JournalRecord(
            op="trigger-intent", key="a", at=_AT, attributes=attrs(probe_ids=None, revision=2)
        ),
        JournalRecord(op="trigger-intent", key="b", at=_AT, attributes=attrs(probe_ids=(7,))),
        JournalRecord(op="result", key="b", at=_AT, test_run_id=9, result=_ENDED),
        JournalRecord(op="findings", key="b", at=_AT, test_run_id=9, findings=_FINDINGS),
    ]
    pinned = (DATA / "journal-lines.jsonl").read_bytes()
    assert b"".join(encode_record(record) for record in records) == pinned
    assert [codec.decode_record(line, "row") for line in pinned.splitlines()] == records


def test_a_state_file_byte_for_byte() -> None:
    # Left out: an unset revision, a run's absent result and empty history, a result's unread
    # findings (and an empty ``retired``, below). Kept: ``probeIds: null`` and a result's nulls.
    runs = {
        "a": TrackedRun(
            status="unknown",
            attributes=attrs(probe_ids=None, revision="r1"),
            triggered_at=_AT,
            note="no answer",
        ),
        "b": TrackedRun(
            test_run_id=9,
            attributes=attrs(probe_ids=()),
            triggered_at=_AT,
            result=_ENDED.model_copy(update={"findings": _FINDINGS}),
            history=(_ENDED,),
        ),
    }
    state = State(lineage="lin", serial=3, runs=runs, retired={"c": (_ENDED,)})
    pinned = (DATA / "left-out-and-kept.json").read_bytes()
    assert encode_state(state) == pinned
    assert decode_state(pinned, "s") == state
    assert encode_state(State(lineage="lin")) == (
        b'{\n  "lineage": "lin",\n  "runs": {},\n  "serial": 0,\n  "version": 3\n}\n'
    )
