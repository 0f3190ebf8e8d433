"""The state document and the journal records that amend it.

The state is what reconciler knows exists on the Probe API: per key, the run id it was given,
the attributes it was triggered with, and when. A trigger whose answer never arrived is kept as
an entry with ``status == "unknown"`` and no id, so the next plan can show it and nothing
re-triggers it silently.

The journal is an append-only list of ``JournalRecord`` written while an apply runs. It is the
crash-safety mechanism shared by every backend: ``fold`` replays it onto a state, and the same
function runs at the end of an apply and after a crash.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from reconciler.records import RunAttributes

#: The state format written by this version. Older versions are upgraded on read
#: (``reconciler.state.codec``); newer ones are refused.
STATE_VERSION = 1


def utc_now() -> str:
    """Timestamps in state and journal: ISO 8601, UTC, second precision, stable in diffs."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )


class TrackedRun(_Model):
    """One key in state.

    ``status == "triggered"``: the API returned ``test_run_id``.
    ``status == "unknown"``: a trigger was sent and no answer came back; ``test_run_id`` is
    None and the user must resolve it (``import`` / ``state rm`` / an explicit re-trigger).
    """

    status: Literal["triggered", "unknown"] = "triggered"
    test_run_id: int | None = Field(default=None, alias="testRunId")
    attributes: RunAttributes
    #: When the trigger was answered (or, for unknown entries, when it was sent).
    triggered_at: str = Field(alias="triggeredAt")
    #: Why the outcome is unknown; empty for triggered runs.
    note: str = ""


class State(_Model):
    """A whole state: format version, lineage fixed at creation, serial bumped on each change."""

    version: int = STATE_VERSION
    lineage: str
    serial: int = 0
    runs: dict[str, TrackedRun] = Field(default_factory=dict)

    @classmethod
    def new(cls) -> State:
        return cls(lineage=str(uuid.uuid4()), serial=0, runs={})

    def with_runs(self, runs: dict[str, TrackedRun]) -> State:
        """The next serial of this state holding ``runs`` (serial bumped only on change)."""
        if runs == self.runs:
            return self
        return self.model_copy(update={"runs": runs, "serial": self.serial + 1})


JournalOp = Literal[
    # Written and flushed BEFORE the request is sent.
    "trigger-intent",
    "cancel-intent",
    # Written when the answer arrives.
    "trigger-done",  # test_run_id set
    "trigger-failed",  # provably not created (400, connect refused...): no state change
    "trigger-unknown",  # may exist: key becomes an unknown entry
    "cancel-done",  # cancelled, or nothing left to cancel: key leaves state
    "cancel-failed",  # still running as far as we know: key stays
    # A ``moved:`` entry of the specs: the run under ``from_key`` is now under ``key``.
    "move",
]


class JournalRecord(_Model):
    """One line of the journal. ``key`` is the spec key the operation is about."""

    op: JournalOp
    key: str
    at: str = Field(default_factory=utc_now)
    #: trigger-intent: what is being triggered (becomes the entry's attributes).
    attributes: RunAttributes | None = None
    #: trigger-done: the new id; cancel-*: the id being cancelled.
    test_run_id: int | None = Field(default=None, alias="testRunId")
    #: Human note: error text, "nothing left to cancel", ...
    note: str = ""
    #: move: the key the run leaves.
    from_key: str | None = Field(default=None, alias="fromKey")


def fold(state: State, records: list[JournalRecord]) -> State:
    """Replay journal records onto ``state``; pure, deterministic, idempotent per record.

    An intent with no outcome after it (the process died, or the answer never came) leaves the
    key as an ``unknown`` entry for a trigger, and leaves the run in place for a cancel (a cancel
    is safe to send again, so the next plan simply cancels again).
    """
    runs = dict(state.runs)
    pending: dict[str, JournalRecord] = {}
    for rec in records:
        if rec.op == "move":
            # Only while the old key holds a run and the new one is free: replaying it is safe.
            if rec.from_key in runs and rec.key not in runs:
                runs[rec.key] = runs.pop(rec.from_key)
            continue
        if rec.op in ("trigger-intent", "cancel-intent"):
            pending[rec.key] = rec
            continue
        intent = pending.pop(rec.key, None)
        if rec.op == "trigger-done":
            attrs = rec.attributes or (intent.attributes if intent else None)
            if attrs is None or rec.test_run_id is None:
                continue  # an outcome without its intent: nothing trustworthy to record
            runs[rec.key] = TrackedRun(
                status="triggered",
                test_run_id=rec.test_run_id,
                attributes=attrs,
                triggered_at=rec.at,
            )
        elif rec.op == "trigger-unknown":
            attrs = rec.attributes or (intent.attributes if intent else None)
            if attrs is not None:
                runs[rec.key] = _unknown(attrs, rec.at, rec.note or "no answer from the API")
        elif rec.op == "cancel-done":
            current = runs.get(rec.key)
            if current is not None and current.test_run_id == rec.test_run_id:
                del runs[rec.key]
        # trigger-failed and cancel-failed change nothing.
    for key, intent in pending.items():
        if intent.op == "trigger-intent" and intent.attributes is not None:
            runs[key] = _unknown(
                intent.attributes, intent.at, "apply stopped before the API answered"
            )
    return state.with_runs(runs)


def _unknown(attrs: RunAttributes, at: str, note: str) -> TrackedRun:
    return TrackedRun(status="unknown", attributes=attrs, triggered_at=at, note=note)
