"""The text and JSON views of a ResultSet: gate reasons and notes, colour, the summary line,
the JSON document's two layouts."""

from __future__ import annotations

import json
from typing import Any

from reconciler.results.gate import Gate
from reconciler.results.observation import Observation, Refresh
from reconciler.results.summary import build_results
from reconciler.results.views.json import render_status_json
from reconciler.results.views.tally import Tally
from reconciler.results.views.text import render_status, summary_line
from tests.factories import attrs, result_of, tracked


def _refresh() -> Refresh:
    first = tracked(attrs(target_id=1), 1).model_copy(
        update={"result": result_of(1, failed=3), "history": (result_of(0, failed=1),)}
    )
    second = tracked(attrs(target_id=2), 2).model_copy(update={"result": result_of(2)})
    return Refresh(
        {
            "leaky": Observation("leaky", first, first.result, "state"),
            "new": Observation("new", second, second.result, "state"),
        }
    )


def test_failed_gates_list_their_reasons_and_notes_are_shown() -> None:
    gates = {"leaky": Gate(max_failed=0, max_failed_increase=1), "new": Gate(max_failed_increase=0)}
    results = build_results(_refresh(), gates, platform="https://p", read_at="now")
    text = render_status(results)
    assert "leaky: Finished, run 1, 7 passed, 3 failed, 0 errored of 10, gate failed\n" in text
    assert "  - 3 failed test cases, at most 0 allowed\n" in text
    assert "  - 3 failed test cases, 2 more than the previous run 0 (1)" in text
    assert "new: Finished, run 2, 10 passed, 0 failed, 0 errored of 10, gate passed\n" in text
    assert "  note: no previous result of this key: maxFailedIncrease does not apply yet" in text
    assert text.endswith("\n2 runs: 1 passed, 1 failed, 0 still going.\n")
    assert "\x1b[" not in text


def test_colour_marks_status_and_verdict_only_when_asked() -> None:
    results = build_results(_refresh(), {"leaky": Gate(max_failed=0)}, platform="p", read_at="t")
    coloured = render_status(results, color=True)
    assert "\x1b[31mgate failed\x1b[0m" in coloured
    assert "\x1b[32mFinished\x1b[0m" in coloured


def test_summary_line_names_unread_and_gone_runs_only_when_there_are_some() -> None:
    assert summary_line(Tally(1, 1, 0, 0, 0, 0)) == "1 run: 1 passed, 0 failed, 0 still going."
    assert summary_line(Tally(4, 0, 1, 1, 2, 1)) == (
        "4 runs: 0 passed, 1 failed, 1 still going, 2 not read, 1 gone."
    )


def test_the_end_of_a_wait_links_every_run_passed_ones_too() -> None:
    from reconciler.results.views.verdict import render_verdict

    results = build_results(
        _refresh(), {"leaky": Gate(max_failed=0)}, platform="https://p", read_at="t"
    )
    text = render_verdict(results, waited=65)
    assert text.startswith("1 of 2 runs failed its gate (waited 1m05s).")
    assert "  https://p/w/1234/target/1/test-runs/1\n" in text
    assert "passed: new (run 2) https://p/w/1234/target/2/test-runs/2\n" in text


def test_the_compact_json_is_the_indented_document_field_for_field_in_the_same_order() -> None:
    results = build_results(_refresh(), {"leaky": Gate(max_failed=0)}, platform="p", read_at="t")
    indented = render_status_json(results, indent=True)
    compact = render_status_json(results, indent=False)
    assert indented.startswith('{\n  "format_version": "1.1",\n  "read_at": "t",\n  "runs": [\n')
    assert compact.startswith('{"format_version":"1.1","read_at":"t","runs":[{"key":"leaky",')
    assert compact.count("\n") == 1 and compact.endswith("}\n")

    def pairs(text: str) -> Any:  # keeps every object's key order, which == on dicts ignores
        return json.loads(text, object_pairs_hook=list)

    assert pairs(compact) == pairs(indented)
    assert json.dumps(json.loads(indented), separators=(",", ":")) + "\n" == compact
