"""The plans rendered into the golden files under tests/data/plans/."""

from __future__ import annotations

from datetime import UTC, datetime

from reconciler.plan.diff import make_plan
from reconciler.plan.model import Observed, Plan
from reconciler.spec.model import Move
from tests.factories import attrs, result_of, tracked
from tests.plan.factories import desired, drun, state


def mixed_plan() -> Plan:
    """One key of every kind: trigger, two replaces, cancel, two unknowns, a no-op."""
    want = desired(
        drun(
            "chatbot-jailbreak",
            attrs(name="Nightly jailbreak sweep", run_ai_analysis=True),
            file="specs/chatbot.yaml",
            line=4,
        ),
        drun(
            "prompt-leak",
            attrs(target_id=43, probe_ids=(102, 103), name="Prompt leak"),
            file="specs/chatbot.yaml",
            line=11,
        ),
        drun("pii-probe", attrs(name="PII"), file="specs/agents.yaml", line=3),
        drun("steady", attrs(name="steady"), file="specs/agents.yaml", line=9),
        drun("flaky", attrs(name="flaky"), file="specs/agents.yaml", line=15),
    )
    have = state(
        {
            "prompt-leak": tracked(
                attrs(target_id=42, probe_ids=(101, 102), name="Prompt leak"), 5012
            ),
            "pii-probe": tracked(attrs(name="PII"), 5013),
            "steady": tracked(attrs(name="steady"), 5014),
            "old-sweep": tracked(attrs(name="Old sweep", notify_when_finished=True), 4001),
            "flaky": tracked(attrs(name="flaky"), status="unknown", note="read timeout"),
            "orphan": tracked(attrs(name="orphan"), status="unknown"),
        }
    )
    return make_plan(want, have, replace=["pii-probe"])


def empty_plan() -> Plan:
    run = drun("steady", attrs(name="steady"))
    return make_plan(desired(run), state({"steady": tracked(run.attributes, 5014)}))


def retrigger_plan() -> Plan:
    """--target and --retrigger-unknown: one unknown key triggered again, another left out."""
    want = desired(drun("a", line=2), drun("b", line=9))
    lost = tracked(attrs(name="a"), status="unknown", note="apply stopped before the API answered")
    return make_plan(want, state({"a": lost}), targets=["a"], retrigger_unknown=True)


def moves_plan() -> Plan:
    """A rename (``moved:``) alone, a rename with a revision bump, and a plain revision bump."""
    want = desired(
        drun("nightly-v2", attrs(name="Nightly"), file="specs/bots.yaml", line=3),
        drun("weekly-v2", attrs(name="Weekly", revision=2), file="specs/bots.yaml", line=7),
        drun("sweep", attrs(name="Sweep", revision="r2"), file="specs/bots.yaml", line=11),
    )
    want = want._replace(
        moves=(
            Move("nightly", "nightly-v2", "specs/bots.yaml", 15),
            Move("weekly", "weekly-v2", "specs/bots.yaml", 17),
        ),
    )
    have = state(
        {
            "nightly": tracked(attrs(name="Nightly"), 6001),
            "weekly": tracked(attrs(name="Weekly", revision=1), 6002),
            "sweep": tracked(attrs(name="Sweep"), 6003),
        }
    )
    return make_plan(want, have)


def removed_field_plan() -> Plan:
    """A replace whose spec dropped a field (``revision``) that the tracked run had."""
    want = desired(drun("nightly", attrs(name="Nightly"), file="specs/bots.yaml", line=3))
    have = state({"nightly": tracked(attrs(name="Nightly", revision=3), 7001)})
    return make_plan(want, have)


#: The clock of ``refreshed_plan``: 8 days and an hour after ``tracked`` runs were triggered.
REFRESH_NOW = datetime(2024, 5, 9, 13, 0, tzinfo=UTC)


def refreshed_plan() -> Plan:
    """A refreshed plan: a run cancelled outside, one ended in Error, one gone, one finished and
    due (rerunAfter 7d), one finished and not due, one still running though old enough, one
    whose status could not be read, and one no longer in the specs that has finished (its
    cancel sends nothing)."""
    keys = ("cancelled", "errored", "gone", "due", "fresh", "running", "unreadable")
    week = 7 * 86_400
    want = desired(
        *(
            drun(
                key,
                attrs(name=key),
                line=index * 4 + 2,
                rerun_after=week * 2 if key == "fresh" else week,
            )
            for index, key in enumerate(keys)
        )
    )
    ids = {key: 7001 + index for index, key in enumerate(keys)}
    ids["removed"] = 7008
    have = state({key: tracked(attrs(name=key), ids[key]) for key in (*keys, "removed")})
    # One ended result recorded in state already: it is not read again.
    have = have.model_copy(
        update={
            "runs": {
                **have.runs,
                "fresh": have.runs["fresh"].model_copy(
                    update={"result": result_of(ids["fresh"], failed=1)}
                ),
            }
        }
    )
    refreshed = {
        ids["cancelled"]: Observed(result=result_of(ids["cancelled"], status="CANCELED")),
        ids["errored"]: Observed(result=result_of(ids["errored"], status="Error", errored=3)),
        ids["gone"]: Observed(gone=True),
        ids["removed"]: Observed(result=result_of(ids["removed"], status="Finished")),
        ids["due"]: Observed(result=result_of(ids["due"], status="FINISHED", failed=2)),
        ids["running"]: Observed(result=result_of(ids["running"], status="Running")),
        ids["unreadable"]: Observed(
            error="status of 'unreadable' (run 7007): the API answered 500 Internal Server Error"
        ),
    }
    return make_plan(want, have, refreshed=refreshed, now=REFRESH_NOW)
