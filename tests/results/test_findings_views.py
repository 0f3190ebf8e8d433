"""The findings views (text, JSON) over synthetic results: order, counts, escaping, content
only when asked for, and the JSON document against its published schema."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import jsonschema

from reconciler.results.findings_read import Finding, FindingsRead, Message
from reconciler.results.gate import Gate
from reconciler.results.observation import Observation, Refresh
from reconciler.results.summary import FindingsContext, ResultSet, build_results
from reconciler.results.views.findings_json import findings_document
from reconciler.results.views.findings_text import FindingsView, render_findings_text
from reconciler.results.views.json import status_document
from reconciler.results.views.markdown import verdict_line
from reconciler.results.views.text import render_status
from tests.factories import attrs, finding, recorded, result_of, tracked

MARKER = "SECRET-PROMPT-MARKER"
PLATFORM = "https://probe.splx.ai"


def _results(*, with_content: bool = False, gate: Gate | None = None) -> ResultSet:
    before = recorded(
        finding(attack="KNOWN-1", probe_run_id=100100),
        finding(attack="FIXED-1", probe_run_id=100100),
    )
    now = recorded(
        finding(attack="KNOWN-1", probe_run_id=200100),
        finding(attack="NEW-\x1b[31m|`@here`", probe_run_id=200100),
    )
    run = tracked(attrs(target_id=42), 2001).model_copy(
        update={
            "result": result_of(2001, failed=2),
            "history": (result_of(1001, failed=2).model_copy(update={"findings": before}),),
        }
    )
    reads = {}
    if with_content:
        new = next(r for r in now.records if r.attack and r.attack.startswith("NEW"))
        content = Finding(
            record=new,
            probe_name="Probe 101",
            messages=(Message("USER", f"<script>{MARKER}</script>" + "x" * 900),),
        )
        reads[("bot", 2001)] = FindingsRead(2001, (content,), recorded=now, requests=1)
    else:
        run = run.model_copy(
            update={"result": run.result.model_copy(update={"findings": now})}  # type: ignore[union-attr]
        )
    refresh = Refresh({"bot": Observation("bot", run, run.result, "state")})
    context = FindingsContext(reads=reads, declared={"bot": ("specs/bot.yaml", 7)})
    return build_results(
        refresh,
        {"bot": gate or Gate(max_new_findings=0)},
        platform=PLATFORM,
        read_at="2026-12-07T10:00:00Z",
        findings=context,
    )


def test_text_lists_new_first_then_known_then_fixed_with_links() -> None:
    text = render_findings_text(_results())
    assert "bot: run 2001, Finished, 2 failed (1 new, 1 known; 1 fixed), gate failed" in text
    assert text.index("new    NEW-") < text.index("known  KNOWN-1") < text.index("FIXED-1")
    assert f"{PLATFORM}/w/1234/target/42/test-runs/2001/probe/200100?tab=results" in text
    assert "fixed since run 1001:" in text and "compared with run 1001" in text
    assert text.endswith("1 run: 2 findings (1 new, 1 known), 1 fixed.\n")


def test_text_escapes_control_characters_from_the_api() -> None:
    text = render_findings_text(_results())
    assert "\x1b" not in text and "NEW-\\u001b[31m|`@here`" in text


def test_new_only_leaves_out_known_and_fixed() -> None:
    text = render_findings_text(_results(), FindingsView(new_only=True))
    assert "NEW-" in text and "KNOWN-1" not in text and "FIXED-1" not in text


def test_content_only_when_asked_for_and_cut() -> None:
    results = _results(with_content=True)
    assert MARKER not in render_findings_text(results)
    assert MARKER not in json.dumps(findings_document(results))
    shown = render_findings_text(results, FindingsView(include_content=True, content_limit=40))
    assert f"user: <script>{MARKER}</script>" in shown
    assert "more characters cut]" in shown
    document = findings_document(results, FindingsView(include_content=True, content_limit=40))
    (message,) = document["runs"][0]["new"][0]["messages"]
    assert message["content"].startswith(f"<script>{MARKER}") and len(message["content"]) < 100


def _schema(name: str) -> dict[str, Any]:
    text = resources.files("reconciler").joinpath(f"schemas/{name}.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def test_the_json_document_follows_its_schema() -> None:
    for view in (FindingsView(), FindingsView(include_content=True, new_only=True)):
        document = findings_document(_results(with_content=True), view)
        jsonschema.validate(document, _schema("findings"))
    document = findings_document(_results())
    run = document["runs"][0]
    assert run["findings"]["newCount"] == 1 and run["findings"]["fixedCount"] == 1
    assert run["specFile"] == "specs/bot.yaml" and run["specLine"] == 7
    assert [f["attack"] for f in run["fixed"]] == ["FIXED-1"]
    assert document["summary"] == {
        "runs": 1, "new": 1, "known": 1, "fixed": 1, "notKnown": 0, "requests": 0
    }  # fmt: skip


def test_status_shows_and_counts_findings() -> None:
    results = _results()
    assert "2 failed (1 new, 1 known; 1 fixed)" in render_status(results)
    document = status_document(results)
    jsonschema.validate(document, _schema("status"))
    counts = document["runs"][0]["findings"]
    assert (counts["newCount"], counts["knownCount"], counts["fixedCount"]) == (1, 1, 1)
    assert document["runs"][0]["gate"]["maxNewFindings"] == 0


def test_the_gate_reason_names_the_new_attack() -> None:
    (row,) = _results().rows
    assert row.verdict.failed
    assert (
        "1 new finding than the previous run 1001, at most 0 allowed: NEW-"
        in (row.verdict.reasons[0])
    )


def test_unread_findings_say_so_and_fail_the_gate_closed() -> None:
    run = tracked(attrs(target_id=42), 2001).model_copy(
        update={"result": result_of(2001, failed=2)}
    )
    refresh = Refresh({"bot": Observation("bot", run, run.result, "state")})
    read = FindingsRead(2001, errors=("bot: run 2001, probe run 200100: the API answered 500",))
    results = build_results(
        refresh,
        {"bot": Gate(max_new_findings=0)},
        platform=PLATFORM,
        read_at="2026-12-07T10:00:00Z",
        findings=FindingsContext(reads={("bot", 2001): read}),
    )
    (row,) = results.rows
    assert row.verdict.undecided and results.exit_code() == 1
    # Not counted as a gate that failed: the exit code is 1, not 3.
    assert verdict_line(results, waiting=True) == (
        "No gate failed; the gate of 1 of 1 run could not be decided (its findings were not read)."
    )
    assert "2 failed (findings not read)" in render_status(results)
    assert "gate not decided" in render_status(results)
    assert "findings not known: bot: run 2001, probe run 200100" in render_findings_text(results)


def test_the_verdict_line_tells_a_failed_gate_from_one_that_could_not_be_decided() -> None:
    def observed(key: str, test_run_id: int) -> Observation:
        run = tracked(attrs(target_id=42), test_run_id).model_copy(
            update={"result": result_of(test_run_id, failed=2)}
        )
        return Observation(key, run, run.result, "state")

    unread = FindingsRead(2001, errors=("bot: run 2001: the API answered 500",))
    results = build_results(
        Refresh({"bot": observed("bot", 2001), "leaky": observed("leaky", 2002)}),
        {"bot": Gate(max_new_findings=0), "leaky": Gate(max_failed=0)},
        platform=PLATFORM,
        read_at="2026-12-07T10:00:00Z",
        findings=FindingsContext(reads={("bot", 2001): unread}),
    )
    assert results.exit_code() == 3  # a real failure outweighs the undecided gate
    assert verdict_line(results, waiting=False) == (
        "1 of 2 runs failed its gate; the gate of 1 more could not be decided (its findings "
        "were not read)."
    )
