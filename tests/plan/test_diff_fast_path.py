"""Property: make_plan's shortcut for unchanged runs (``diff._unchanged``) plans exactly what
the full decision (``diff._change``) plans, whenever it takes it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.plan.diff import (
    REASON_UNCHANGED,
    _change,
    _Facts,
    _keep_tracked_name,
    _unchanged,
    make_plan,
)
from reconciler.plan.model import Action, Change, Observed
from reconciler.spec.model import DesiredRun
from reconciler.state.model import TrackedRun
from tests.factories import attrs, result_of, tracked
from tests.plan.factories import desired, drun, state

#: One entry per example that took the shortcut: a property whose inputs never take it would
#: check nothing.
taken: list[bool] = []
NOW = datetime(2024, 5, 20, 12, 0, tzinfo=UTC)
RUN_ID = 4242

attributes = st.builds(
    attrs,
    target_id=st.integers(1, 2),
    probe_ids=st.sampled_from([(101,), (101, 102)]),
    name=st.sampled_from(["a", "b"]),
)
results = st.one_of(
    st.none(),
    st.sampled_from(["Finished", "Canceled", "Error", "Running", "CANCELED", "finished"]).map(
        lambda status: result_of(RUN_ID, status=status)
    ),
)
observations = st.one_of(
    st.none(),
    st.just(Observed(gone=True)),
    st.just(Observed(error="timed out")),
    results.filter(lambda r: r is not None).map(lambda r: Observed(result=r)),
)


def _rarely(draw: st.DrawFn) -> bool:
    """True one time in four: the unusual case, so that most examples can take the shortcut."""
    return draw(st.integers(0, 3)) == 0


@st.composite
def wants(draw: st.DrawFn) -> DesiredRun | None:
    if draw(st.booleans()) and draw(st.booleans()):
        return None
    return drun(
        "k",
        draw(attributes),
        name_defaulted=draw(st.booleans()),
        rerun_after=draw(st.sampled_from([60, 86_400 * 30])) if _rarely(draw) else None,
    )


@st.composite
def haves(draw: st.DrawFn, want: DesiredRun | None) -> TrackedRun | None:
    if draw(st.booleans()) and draw(st.booleans()):
        return None
    statuses: list[Literal["triggered", "unknown"]] = ["triggered", "unknown"]
    # Mostly the run as the spec wants it: the case the shortcut is for.
    same = want is not None and draw(st.integers(0, 3)) > 0
    triggered_with = want.attributes if same and want is not None else draw(attributes)
    run = tracked(triggered_with, RUN_ID, status=statuses[_rarely(draw)])
    result = draw(results)
    return run if result is None else run.model_copy(update={"result": result})


@settings(max_examples=600, deadline=None)
@given(st.data())
def shortcut_agrees(data: st.DataObject) -> None:
    want = data.draw(wants())
    have = data.draw(haves(want))
    observed = data.draw(observations) if data.draw(st.integers(0, 3)) == 0 else None
    facts = _Facts({RUN_ID: observed} if observed is not None else {}, NOW)
    full = _change(
        "k", _keep_tracked_name(want, have), have, forced=False, retrigger=False, facts=facts
    )
    if _unchanged(want, have, facts):
        taken.append(True)
        assert want is not None and have is not None
        assert full == Change(
            "k", Action.NOOP, have, want.attributes, REASON_UNCHANGED, source=want.source
        )
    # And make_plan, which takes the shortcut, agrees with the full decision either way.
    runs = {"k": have} if have is not None else {}
    plan = make_plan(
        desired(*([want] if want is not None else [])),
        state(runs),
        refreshed=facts.refreshed,
        now=NOW,
        checksum=False,
    )
    assert plan.changes == ((full,) if (want, have) != (None, None) else ())


def test_the_shortcut_plans_what_the_full_decision_plans() -> None:
    taken.clear()
    shortcut_agrees()
    assert len(taken) >= 30
