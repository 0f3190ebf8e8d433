"""``probeIds: null`` (the target's configured probes) through diff, renderers and state."""

from __future__ import annotations

import json
from importlib import resources

import jsonschema

from reconciler.plan.diff import make_plan
from reconciler.plan.model import Action
from reconciler.plan.render import render_json, render_markdown, render_text
from reconciler.plan.saved import dumps_plan, loads_plan
from reconciler.state.codec import decode_record, decode_state, encode_record, encode_state
from reconciler.state.model import JournalRecord
from tests.factories import attrs, tracked
from tests.plan.factories import desired, drun, state

SHOWN = "null (the target's configured probes)"


def test_null_and_a_list_replace_each_other_and_empty_is_not_null() -> None:
    null, listed, empty = attrs(probe_ids=None), attrs(probe_ids=(101, 102)), attrs(probe_ids=())
    for old, new in ((listed, null), (null, listed), (empty, null), (null, empty)):
        plan = make_plan(desired(drun("a", new)), state({"a": tracked(old)}))
        (change,) = plan.changes
        assert change.action is Action.REPLACE
        (field,) = change.changed_fields
        assert field.field == "probeIds"
        assert SHOWN in field.detail
    same = make_plan(desired(drun("a", null)), state({"a": tracked(null)}))
    assert not same.has_changes
    (field,) = (
        make_plan(desired(drun("a", null)), state({"a": tracked(listed)})).changes[0].changed_fields
    )
    assert field.detail == f"probeIds: [101, 102] → {SHOWN}"


def test_every_renderer_shows_the_targets_configured_probes() -> None:
    plan = make_plan(
        desired(drun("new", attrs(probe_ids=None)), drun("swap", attrs(probe_ids=None))),
        state({"swap": tracked(attrs(probe_ids=(101,)))}),
    )
    text = render_text(plan, color=False)
    assert f"probeIds           = {SHOWN}" in text
    assert f"~ probeIds: [101] → {SHOWN}  # forces replacement" in text
    markdown = render_markdown(plan)
    assert f"+ probeIds: {SHOWN}" in markdown
    assert "- probeIds: [101]" in markdown
    document = json.loads(render_json(plan))
    afters = [change["after"]["probeIds"] for change in document["runs"]]
    assert afters == [None, None]
    schema = json.loads(
        resources.files("reconciler").joinpath("schemas/plan.schema.json").read_text()
    )
    jsonschema.validate(document, schema)


def test_state_keeps_null_apart_from_a_list_and_from_empty() -> None:
    runs = {
        "null": tracked(attrs(probe_ids=None), 1),
        "empty": tracked(attrs(probe_ids=()), 2),
        "listed": tracked(attrs(probe_ids=(7,)), 3),
    }
    encoded = encode_state(state(runs))
    raw = json.loads(encoded)["runs"]
    assert [raw[key]["attributes"]["probeIds"] for key in runs] == [None, [], [7]]
    decoded = decode_state(encoded, "state.json")
    assert {key: run.attributes.probe_ids for key, run in decoded.runs.items()} == {
        "null": None,
        "empty": (),
        "listed": (7,),
    }


def test_journal_and_saved_plan_keep_null() -> None:
    record = JournalRecord(op="trigger-intent", key="a", attributes=attrs(probe_ids=None))
    line = encode_record(record)
    assert json.loads(line)["attributes"]["probeIds"] is None
    decoded = decode_record(line.rstrip(b"\n"), "journal:1")
    assert decoded.attributes is not None and decoded.attributes.probe_ids is None
    plan = make_plan(desired(drun("a", attrs(probe_ids=None))), state())
    (change,) = loads_plan(dumps_plan(plan)).changes
    assert change.after is not None and change.after.probe_ids is None
