"""Safety rails: plans that are refused before anything is sent.

Three rails, checked in this order:

1. ``protect: true`` on a run in the specs: that run is never cancelled or replaced, not even
   with ``--force``. The mark has to be removed first, in a change of its own, so a reviewer
   sees the removal before the run goes.
2. An empty desired set against a non-empty state is almost always a mistyped path; it would
   cancel everything. Refused unless ``--allow-empty``.
3. octoDNS's unsafe-plan rule: once at least ``MASS_CHANGE_MIN_TRACKED`` runs are tracked, a
   plan that cancels or replaces more than ``MASS_CHANGE_MAX_PERCENT`` percent of them is
   refused unless ``--force``.

``reconciler destroy`` asks for every run to be cancelled, so rails 2 and 3 do not apply to a
destroy plan; rail 1 still does.
"""

from __future__ import annotations

from reconciler.errors import UnsafePlanError
from reconciler.plan.model import Action, Plan
from reconciler.spec.model import DesiredSet
from reconciler.state.model import State

#: Below this many tracked runs, any share of them may be cancelled or replaced.
MASS_CHANGE_MIN_TRACKED = 10
#: The largest share (in percent of tracked runs) a plan may cancel or replace without --force.
MASS_CHANGE_MAX_PERCENT = 30


def check_plan(
    plan: Plan, desired: DesiredSet, state: State, *, force: bool, allow_empty: bool
) -> None:
    """Raise ``UnsafePlanError`` when a rail refuses ``plan``; return quietly otherwise."""
    _check_protected(plan, desired)
    if plan.options.destroy:
        return
    if not allow_empty:
        _check_empty(desired, state)
    if not force:
        _check_mass_change(plan, state)


def _check_protected(plan: Plan, desired: DesiredSet) -> None:
    blocked = []
    for change in plan.changes:
        run = desired.runs.get(change.key)
        if run is None or not run.protect:
            continue
        if change.action in (Action.REPLACE, Action.CANCEL):
            blocked.append(f"  {change.key} ({run.source}): would be {_verb(change.action)}")
    if blocked:
        raise UnsafePlanError(
            "refusing to cancel or replace protected runs (`protect: true`):\n"
            + "\n".join(blocked)
            + "\nRemove `protect: true` from these runs first, in a separate change, and plan"
            " again; --force does not override protection."
        )


def _check_empty(desired: DesiredSet, state: State) -> None:
    if desired.runs or not state.runs:
        return
    count = len(state.runs)
    raise UnsafePlanError(
        f"the specs declare no test runs, but the state tracks {count}; this plan would "
        f"cancel all of them. Check the spec paths ({_paths(desired)}). "
        "To really cancel every run, pass --allow-empty or use `reconciler destroy`."
    )


def _check_mass_change(plan: Plan, state: State) -> None:
    tracked = len(state.runs)
    if tracked < MASS_CHANGE_MIN_TRACKED:
        return
    # Replacing or cancelling a run known to have ended stops nothing: a night of runs come
    # due (rerunAfter) is no mass cancellation.
    destructive = sum(
        1 for c in plan.changes if c.action in (Action.CANCEL, Action.REPLACE) and not c.run_ended
    )
    # Integer arithmetic: 3 of 10 is exactly 30% and allowed; no float rounding at the edge.
    if destructive * 100 <= tracked * MASS_CHANGE_MAX_PERCENT:
        return
    raise UnsafePlanError(
        f"this plan cancels or replaces {destructive} of {tracked} tracked runs "
        f"({_percent_up(destructive, tracked)}%), more than the {MASS_CHANGE_MAX_PERCENT}% "
        "allowed at once. Review the plan; if it is what you want, run again with --force."
    )


def _percent_up(part: int, whole: int) -> int:
    # Rounded up, so a share just above the limit never prints as the limit itself.
    return -(-part * 100 // whole)


def _verb(action: Action) -> str:
    return "replaced" if action is Action.REPLACE else "cancelled"


def _paths(desired: DesiredSet) -> str:
    return ", ".join(desired.files) if desired.files else "no spec files were read"
