"""Making a plan: the desired set against the state, key by key.

A run is immutable once triggered, so each key gets exactly one action:

- in the specs, not in state                 → TRIGGER ("new key")
- in both, attributes equal                  → NOOP (or REPLACE when ``--replace`` names it)
- in both, attributes differ                 → REPLACE (cancel, then trigger), with the fields
- in state, not in the specs                 → CANCEL
- in state with ``status == "unknown"``      → UNKNOWN (or TRIGGER with ``retrigger_unknown``)

What is known of a tracked run's result (recorded in state, or read by the refresh before the
plan, ``refreshed``) adds three cases. A run that was cancelled outside reconciler (the state
tracks it, so a cancel by reconciler would have removed it), ended in Error, or is gone (404)
→ TRIGGER again: the old run has ended, so there is nothing to cancel. A run that ended and was
triggered longer ago than its ``rerunAfter`` → REPLACE ("due"); a run still going never is.

``moved:`` entries of the specs are applied to the state first: the run tracked under the old
key is compared under its new key, and its change carries ``moved_from`` (a move and nothing
else is a NOOP with ``moved_from``; a move and a field change is a REPLACE with it).

A tracked run whose spec sets no ``name`` keeps the name it was triggered with
(``DesiredRun.name_defaulted``): its default name is its key, so without this a move, or
dropping a carried-out ``moved:`` entry, would change a field sent to the API and replace it.

"Changed" is plain equality of the normalised ``RunAttributes``; deepdiff only explains a change
that equality already found, so 10,000 unchanged runs cost 10,000 comparisons and nothing more
(DeepDiff over whole documents takes about a second at that size).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from reconciler.durations import format_age, format_duration
from reconciler.errors import PlanError, UsageError
from reconciler.plan.model import Action, Change, FieldChange, Observed, Plan, PlanOptionsRecord
from reconciler.records import RunAttributes, show_probe_ids
from reconciler.results.model import CANCELED, ERROR
from reconciler.spec.model import DesiredRun, DesiredSet
from reconciler.state.model import State, TrackedRun

REASON_NEW = "new key"
REASON_UNCHANGED = "unchanged"
REASON_CHANGED = "fields changed"
REASON_REPLACE_REQUESTED = "replace requested"
REASON_REMOVED = "key removed from specs"
REASON_DESTROY = "destroy requested"
REASON_UNKNOWN = "outcome of an earlier trigger is unknown"
REASON_RETRIGGER = "re-trigger requested for an unknown outcome"
REASON_CANCELLED_OUTSIDE = "cancelled outside reconciler"
REASON_ERROR = "ended in error"
REASON_GONE = "no longer exists on the platform"
#: The start of every "due" reason: ``due: triggered 8d ago, rerunAfter 7d``.
REASON_DUE_PREFIX = "due:"

#: Wire names of the fields, in the order of ``RunAttributes``: the order fields are explained.
FIELD_ORDER: tuple[str, ...] = tuple(
    info.alias or name for name, info in RunAttributes.model_fields.items()
)
_SET_FIELDS = frozenset({"probeIds"})


def make_plan(
    desired: DesiredSet,
    state: State,
    *,
    targets: Sequence[str] = (),
    replace: Sequence[str] = (),
    retrigger_unknown: bool = False,
    destroy: bool = False,
    refreshed: Mapping[int, Observed] | None = None,
    now: datetime | None = None,
    checksum: bool = True,
) -> Plan:
    """Plan what apply would do to bring ``state`` to ``desired``.

    ``targets`` restricts the plan to those keys (others are omitted, not no-ops); ``replace``
    forces a replace of unchanged tracked keys; ``retrigger_unknown`` plans a trigger for keys
    whose earlier trigger has an unknown outcome; ``destroy`` plans a cancel of every tracked
    run whatever the specs say. ``refreshed``, by test run id, is what the refresh read (None:
    no refresh); ``now`` is the plan's clock for ``rerunAfter`` (default: the current time).
    ``checksum=False`` leaves ``specs_checksum`` empty, for a plan that is neither saved nor
    rendered as JSON (the desired set's checksum is then never computed).
    Raises ``UsageError`` for keys that name nothing.
    """
    if destroy and (replace or retrigger_unknown):
        raise UsageError(
            "destroy cancels every tracked run; it cannot be combined with "
            "--replace or --retrigger-unknown"
        )
    state, moved_from = apply_moves(desired, state)
    known = desired.runs.keys() | state.runs.keys()
    _check_targets(targets, known)
    _check_replace(replace, desired, state, targets)

    keys = sorted(set(targets) if targets else known)
    forced = frozenset(replace)
    facts = _Facts(refreshed or {}, now or datetime.now(UTC))
    changes: list[Change] = []
    tracked, declared = state.runs, desired.runs
    for key in keys:
        have = tracked.get(key)
        want = declared.get(key)
        if not destroy and key not in forced and _unchanged(want, have, facts):
            assert want is not None and have is not None  # _unchanged: both exist
            noop = Change(
                key, Action.NOOP, have, want.attributes, REASON_UNCHANGED, source=want.source
            )
            changes.append(_moved(noop, moved_from[key]) if key in moved_from else noop)
            continue
        want = _keep_tracked_name(want, have)
        if destroy:
            change = _destroy_change(key, have, facts)
        else:
            change = _change(
                key, want, have, forced=key in forced, retrigger=retrigger_unknown, facts=facts
            )
        if change is not None and key in moved_from:
            change = _moved(change, moved_from[key])
        if change is not None:
            changes.append(change)
    return Plan(
        changes=tuple(changes),
        lineage=state.lineage,
        serial=state.serial,
        specs_checksum=desired.checksum if checksum else "",
        options=PlanOptionsRecord(
            targets=tuple(sorted(set(targets))),
            replace=tuple(sorted(forced)),
            retrigger_unknown=retrigger_unknown,
            destroy=destroy,
            refresh=refreshed is not None,
        ),
    )


def apply_moves(desired: DesiredSet, state: State) -> tuple[State, dict[str, str]]:
    """``state`` with the specs' ``moved:`` entries carried out, and new key → old key.

    A move whose old key is not in state was carried out already (or never had a run): it
    does nothing, so the entry can stay in the specs as history. Raises ``PlanError`` when
    both keys hold a run: which one is meant cannot be guessed.
    """
    runs = dict(state.runs)
    moved_from: dict[str, str] = {}
    for move in desired.moves:
        run = runs.get(move.source)
        if run is None:
            continue
        if move.target in runs:
            raise PlanError(
                f"{move.where}: cannot move {move.source!r} to {move.target!r}: the state "
                "tracks a run under both keys. Forget one of them with "
                f"`reconciler state rm {shlex.quote(move.source)}` (or "
                f"{shlex.quote(move.target)}), or remove the move."
            )
        runs[move.target] = runs.pop(move.source)
        moved_from[move.target] = move.source
    if not moved_from:
        return state, moved_from
    # Same lineage and serial: the moves are part of this plan, not a new state yet.
    return state.model_copy(update={"runs": runs}), moved_from


def _keep_tracked_name(want: DesiredRun | None, have: TrackedRun | None) -> DesiredRun | None:
    """``want`` named as ``have`` was triggered, when its spec leaves the name to default.

    An unnamed run is named after its key when first triggered; a move changes the key but
    must not change the run. An explicit ``name`` is taken as written: setting one is how a
    user renames a run, which replaces it.
    """
    if want is None or have is None or not want.name_defaulted:
        return want
    name = have.attributes.name
    if want.attributes.name == name:
        return want
    return want._replace(attributes=want.attributes.model_copy(update={"name": name}))


def _moved(change: Change, source: str) -> Change:
    reason = f"moved from {source}" if change.action is Action.NOOP else change.reason
    return change._replace(moved_from=source, reason=reason)


def _check_targets(targets: Sequence[str], known: Iterable[str]) -> None:
    missing = sorted(set(targets) - set(known))
    if missing:
        raise UsageError(
            f"--target {', '.join(missing)}: no such key in the specs or the state; "
            "check the spelling against `reconciler state list` and the spec files"
        )


def _check_replace(
    replace: Sequence[str], desired: DesiredSet, state: State, targets: Sequence[str]
) -> None:
    for key in sorted(set(replace)):
        have = state.runs.get(key)
        if key not in desired.runs and have is None:
            raise UsageError(
                f"--replace {key}: no such key in the specs or the state; "
                "check the spelling against `reconciler state list` and the spec files"
            )
        if have is None:
            raise UsageError(
                f"--replace {key}: the state tracks no run for this key; "
                "plan without --replace and it is triggered as a new key"
            )
        if key not in desired.runs:
            raise UsageError(
                f"--replace {key}: the key is no longer in the specs, so it can only be "
                "cancelled; plan without --replace"
            )
        if have.status == "unknown":
            raise UsageError(
                f"--replace {key}: the outcome of its last trigger is unknown, so there is "
                f"no run to cancel; use `reconciler import {shlex.quote(key)} TEST_RUN_ID`, "
                f"`reconciler state rm {shlex.quote(key)}` or `apply --retrigger-unknown`"
            )
        if targets and key not in targets:
            raise UsageError(
                f"--replace {key}: the key is outside the --target selection; add --target {key}"
            )


# A NamedTuple: immutable, and cheaper to define than a frozen dataclass (docs/ARCHITECTURE.md).
class _Facts(NamedTuple):
    """What the planner knows beyond specs and state: the refresh's reads and the time."""

    refreshed: Mapping[int, Observed]
    now: datetime

    def observed(self, run: TrackedRun) -> Observed | None:
        return self.refreshed.get(run.test_run_id) if run.test_run_id is not None else None


def _unchanged(want: DesiredRun | None, have: TrackedRun | None, facts: _Facts) -> bool:
    """Whether ``_change`` would plan the key as a plain NOOP, decided without building it.

    Nearly every key of a plan is such a run, so this is the one test a typical plan makes
    per key (about 8 M instructions fewer for 1,000 runs). Anything it cannot settle at once
    (a name to keep, a refresh's reading, a ``rerunAfter``, a run that ended cancelled or in
    error) goes through ``_change``; tests/plan/test_diff_fast_path.py checks both agree.
    """
    if want is None or have is None or have.status != "triggered" or want.rerun_after is not None:
        return False
    if facts.refreshed and have.test_run_id in facts.refreshed:
        return False
    result = have.result
    if result is not None and result.status in (CANCELED, ERROR):
        return False
    # A run whose defaulted name was kept (``_keep_tracked_name``) differs here by its name,
    # and goes the long way.
    return want.attributes == have.attributes


def _change(
    key: str,
    want: DesiredRun | None,
    have: TrackedRun | None,
    *,
    forced: bool,
    retrigger: bool,
    facts: _Facts,
) -> Change:
    after = want.attributes if want is not None else None
    source = want.source if want is not None else None
    if have is None:
        return Change(key, Action.TRIGGER, None, after, REASON_NEW, source=source)
    if have.status == "unknown":
        return _unknown_change(key, have, after, source, retrigger=retrigger)
    observed = facts.observed(have)
    if want is None:
        return Change(key, Action.CANCEL, have, None, REASON_REMOVED, observed=observed)
    change = Change(
        key, Action.NOOP, have, want.attributes, REASON_UNCHANGED, source=source, observed=observed
    )
    return _tracked_change(change, want, forced, facts)


def _tracked_change(change: Change, want: DesiredRun, forced: bool, facts: _Facts) -> Change:
    """A triggered run that is still in the specs: re-trigger, replace, or leave alone."""
    have, after = change.before, want.attributes
    assert have is not None
    fields = explain(have.attributes, after) if have.attributes != after else ()
    ended_badly = _ended_badly(change)
    if ended_badly is not None:
        # The old run has ended: nothing to cancel, so a trigger, whatever else changed.
        return change._replace(action=Action.TRIGGER, reason=ended_badly, changed_fields=fields)
    if fields:
        return change._replace(action=Action.REPLACE, reason=REASON_CHANGED, changed_fields=fields)
    if forced:
        return change._replace(action=Action.REPLACE, reason=REASON_REPLACE_REQUESTED)
    due = _due(change, want, facts.now)
    if due is not None:
        return change._replace(action=Action.REPLACE, reason=due)
    return change


def _ended_badly(change: Change) -> str | None:
    """Why the tracked run must be triggered again, if it is gone or ended other than
    Finished. Any Canceled counts as outside: a cancel by reconciler removes the key."""
    if change.observed is not None and change.observed.gone:
        return REASON_GONE
    result = change.known_result
    if result is None:
        return None
    return {CANCELED: REASON_CANCELLED_OUTSIDE, ERROR: REASON_ERROR}.get(result.status)


def _due(change: Change, want: DesiredRun, now: datetime) -> str | None:
    """``due: triggered 8d ago, rerunAfter 7d`` when the run ended and is older than its
    ``rerunAfter``; None otherwise (a run still going, or of unknown state, is never due)."""
    if want.rerun_after is None or not change.run_ended or change.before is None:
        return None
    triggered = _parse_time(change.before.triggered_at)
    if triggered is None:
        return None
    age = (now - triggered).total_seconds()
    if age <= want.rerun_after:
        return None
    return (
        f"{REASON_DUE_PREFIX} triggered {format_age(age)} ago, "
        f"rerunAfter {format_duration(want.rerun_after)}"
    )


def _parse_time(text: str) -> datetime | None:
    # State timestamps are ISO 8601 UTC (``state.model.utc_now``); one written by hand that
    # does not parse makes the run not due rather than the plan fail.
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _unknown_change(
    key: str,
    have: TrackedRun,
    after: RunAttributes | None,
    source: str | None,
    *,
    retrigger: bool,
) -> Change:
    if retrigger and after is not None:
        return Change(key, Action.TRIGGER, have, after, REASON_RETRIGGER, source=source)
    # Not in the specs any more (or no re-trigger asked): without a run id there is nothing
    # to cancel, so the key waits for the user's decision.
    fields = explain(have.attributes, after) if after is not None else ()
    return Change(key, Action.UNKNOWN, have, after, REASON_UNKNOWN, fields, source)


def _destroy_change(key: str, have: TrackedRun | None, facts: _Facts) -> Change | None:
    if have is None:
        return None  # only in the specs: destroy has nothing to do with it
    if have.status == "unknown":
        return Change(key, Action.UNKNOWN, have, None, REASON_UNKNOWN)
    # What the refresh read: a run that has ended is sent no cancel, its result is kept.
    return Change(key, Action.CANCEL, have, None, REASON_DESTROY, observed=facts.observed(have))


def explain(before: RunAttributes, after: RunAttributes) -> tuple[FieldChange, ...]:
    """The fields that differ, each explained by deepdiff (``targetId: 42 → 43``).

    Only the differing fields are handed to DeepDiff: it is the slow part of planning.
    """
    old, new = before.wire(), after.wire()
    # An unset revision is absent from the wire form: compare it as None.
    differing = [name for name in FIELD_ORDER if old.get(name) != new.get(name)]
    if not differing:
        return ()
    # Imported on first use: deepdiff pulls in numpy (about 0.1 s), which a plan that only
    # triggers or cancels never needs.
    from deepdiff import DeepDiff

    diff = DeepDiff(
        {name: _comparable(name, old.get(name)) for name in differing},
        {name: _comparable(name, new.get(name)) for name in differing},
        view="tree",
    )
    added: dict[str, list[Any]] = {}
    removed: dict[str, list[Any]] = {}
    for kind, levels in diff.items():
        for level in levels:
            name = level.path(output_format="list")[0]
            if kind == "set_item_added":
                added.setdefault(name, []).append(level.t2)
            elif kind == "set_item_removed":
                removed.setdefault(name, []).append(level.t1)
    return tuple(
        FieldChange(
            field=name,
            before=old.get(name),
            after=new.get(name),
            detail=_detail(name, old.get(name), new.get(name), added.get(name), removed.get(name)),
        )
        for name in differing
    )


def _comparable(name: str, value: Any) -> Any:
    # probeIds is a set: deepdiff then reports added and removed ids instead of positions.
    # None (probeIds: null, the target's configured probes) is no set: it differs from any.
    return frozenset(value) if name in _SET_FIELDS and value is not None else value


def _detail(
    name: str, old: Any, new: Any, added: list[Any] | None, removed: list[Any] | None
) -> str:
    if name == "probeIds" and (old is None or new is None):
        return f"{name}: {show_probe_ids(old)} → {show_probe_ids(new)}"
    if name in _SET_FIELDS:
        parts = [f"+{v}" for v in sorted(added or ())] + [f"-{v}" for v in sorted(removed or ())]
        return f"{name}: {' '.join(parts)}"
    import json  # here: only a changed field needs it

    return f"{name}: {json.dumps(old, ensure_ascii=False)} → {json.dumps(new, ensure_ascii=False)}"
