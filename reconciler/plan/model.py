"""The plan as data: what apply would do, per key, in a fixed order.

A plan is made by ``reconciler.plan.diff.make_plan`` from the desired set and the state, checked
by ``reconciler.plan.safety``, rendered by ``reconciler.plan.render`` (pure functions of a
plan) and executed by ``reconciler.apply``. Renderers and the executor never recompute it.

The records are NamedTuples: immutable like frozen dataclasses, but on Python 3.11 a frozen
dataclass compiles six methods when defined (about 4.5 M instructions each, on every command)
and sets every field through ``object.__setattr__`` (a plan makes a ``Change`` per key).
Change one with ``record._replace(...)``.
"""

from __future__ import annotations

import enum
from typing import Any, NamedTuple

from reconciler.records import RunAttributes
from reconciler.results.model import RunResult
from reconciler.state.model import TrackedRun


class Action(enum.Enum):
    """What happens to one key. The value is the word shown to users."""

    TRIGGER = "trigger"  # new key: trigger a run
    REPLACE = "replace"  # fields changed (or --replace): cancel the old run, trigger a new one
    CANCEL = "cancel"  # key removed from specs: cancel the run
    UNKNOWN = "unknown"  # an earlier trigger's outcome is unknown: the user must resolve it
    NOOP = "no-op"

    @property
    def json_actions(self) -> list[str]:
        """Terraform-style action list of the JSON plan."""
        return {
            Action.TRIGGER: ["create"],
            Action.REPLACE: ["delete", "create"],
            Action.CANCEL: ["delete"],
            Action.UNKNOWN: ["unknown"],
            Action.NOOP: ["no-op"],
        }[self]


class FieldChange(NamedTuple):
    """One field that differs between the run in state and the spec.

    ``detail`` is the human explanation from deepdiff, e.g. ``targetId: 42 → 43`` or
    ``probeIds: +103 -101``.
    """

    field: str
    before: Any
    after: Any
    detail: str


class Observed(NamedTuple):
    """What the refresh before this plan learned about a change's tracked run.

    Part of the plan (and of a saved plan) because it shaped the plan: ``apply --plan`` records
    the final results read here instead of reading them again, so it executes what was
    reviewed. Exactly one of ``result``, ``gone`` and ``error`` says something.
    """

    #: The status read (ended or not); None when gone or unreadable.
    result: RunResult | None = None
    #: The API answered 404: the run no longer exists on the platform.
    gone: bool = False
    #: Why the status could not be read; the change is planned as if not refreshed.
    error: str | None = None


#: The version of ``PlanOptionsRecord``, written beside its fields (``document``).
OPTIONS_VERSION = 1


class PlanOptionsRecord(NamedTuple):
    """The options a plan was made with, as a typed record: in the ``Plan``, the saved plan
    file and the JSON plan (``options``). ``OPTIONS_VERSION`` is written beside them so a reader can
    refuse a record it does not know instead of guessing at its fields."""

    targets: tuple[str, ...] = ()
    replace: tuple[str, ...] = ()
    retrigger_unknown: bool = False
    destroy: bool = False
    #: Whether the status of tracked runs was read before planning (``--refresh``).
    refresh: bool = False
    #: Spec paths given to plan (empty: the project config's or specs/).
    paths: tuple[str, ...] = ()
    #: The state the plan was made against (``Session.state_identity``); None when unset.
    state: str | None = None

    def document(self) -> dict[str, Any]:
        """The JSON form (``options`` of the JSON plan)."""
        return {
            "version": OPTIONS_VERSION,
            "targets": list(self.targets),
            "replace": list(self.replace),
            "retrigger_unknown": self.retrigger_unknown,
            "destroy": self.destroy,
            "refresh": self.refresh,
            "paths": list(self.paths),
            "state": self.state,
        }


class Change(NamedTuple):
    """What the plan does with one key."""

    key: str
    action: Action
    #: The run in state: None for a new key's trigger; the unknown entry for a re-trigger of
    #: an unknown outcome; always set for REPLACE, CANCEL and UNKNOWN.
    before: TrackedRun | None
    #: The desired attributes (None for a cancel, and for an unknown entry no longer in the
    #: specs).
    after: RunAttributes | None
    #: Why: "new key", "key removed from specs", "fields changed", "replace requested".
    reason: str
    #: Fields that differ between ``before`` and ``after``: they force a REPLACE, and are shown
    #: for an UNKNOWN entry whose spec changed since its trigger.
    changed_fields: tuple[FieldChange, ...] = ()
    #: Where the key is declared, "file:line" (None when the key is not in the specs).
    source: str | None = None
    #: The key the run was tracked under before a ``moved:`` entry renamed it; apply moves it
    #: in state (no API call) before doing ``action``. A move alone is a NOOP with this set.
    moved_from: str | None = None
    #: What the refresh read of ``before`` (None: not read, or no refresh).
    observed: Observed | None = None

    @property
    def known_result(self) -> RunResult | None:
        """The tracked run's result: recorded in state, or read by this plan's refresh."""
        if self.before is not None and self.before.result is not None:
            return self.before.result
        return self.observed.result if self.observed is not None else None

    @property
    def run_ended(self) -> bool:
        """The tracked run is known to have ended (or to be gone): cancelling it stops
        nothing, so apply sends no cancel for it (a replace only triggers, a cancel only
        removes it from state) and a replace of it is no mass cancellation."""
        result = self.known_result
        return (result is not None and result.ended) or (
            self.observed is not None and self.observed.gone
        )


class Plan(NamedTuple):
    """Every key of desired and state, sorted by key, with what apply would do to each."""

    changes: tuple[Change, ...]
    #: Lineage and serial of the state it was made from: a saved plan is stale once they move.
    lineage: str
    serial: int
    #: sha256 of the resolved desired set it was made from (``DesiredSet.checksum``); empty
    #: in a plan made for the terminal only (``make_plan(checksum=False)``).
    specs_checksum: str
    #: Options that shaped it, recorded so a saved plan applies exactly as reviewed.
    options: PlanOptionsRecord = PlanOptionsRecord()
    #: ``State.tracked_checksum`` of the state it was made from, set for a saved plan: a
    #: state whose serial moved only because results were recorded is still this one.
    tracked_checksum: str | None = None

    def by_action(self, action: Action) -> list[Change]:
        return [c for c in self.changes if c.action is action]

    @property
    def actionable(self) -> list[Change]:
        """Changes apply would execute (triggers, replaces, cancels)."""
        return [
            c for c in self.changes if c.action in (Action.TRIGGER, Action.REPLACE, Action.CANCEL)
        ]

    @property
    def sends_requests(self) -> bool:
        """True when apply would call the API: a trigger, a replace, or a cancel of a run not
        known to have ended. The cancel of an ended run only takes it out of the state."""
        return any(c.action is not Action.CANCEL or not c.run_ended for c in self.actionable)

    @property
    def moves(self) -> list[Change]:
        """Changes whose run moves to a new key in state (``moved:``)."""
        return [c for c in self.changes if c.moved_from is not None]

    @property
    def has_changes(self) -> bool:
        """True when apply would do something or the user has something to resolve."""
        return any(c.action is not Action.NOOP or c.moved_from for c in self.changes)

    @property
    def unreadable(self) -> list[Change]:
        """Changes whose run's status the refresh could not read (planned as if not read)."""
        return [c for c in self.changes if c.observed is not None and c.observed.error]

    def counts(self) -> dict[Action, int]:
        totals = dict.fromkeys(Action, 0)
        for change in self.changes:
            totals[change.action] += 1
        return totals
