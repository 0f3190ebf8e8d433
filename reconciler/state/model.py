"""The state document and the journal records that amend it.

The state is what reconciler knows exists on the Probe API: per key, the run id it was given,
the attributes it was triggered with, and when. A trigger whose answer never arrived is kept as
an entry with ``status == "unknown"`` and no id, so the next plan can show it and nothing
re-triggers it silently.

The journal is an append-only list of ``JournalRecord`` written while an apply runs. It is the
crash-safety mechanism shared by every backend: ``fold`` replays it onto a state, and the same
function runs at the end of an apply and after a crash.
"""

# Not ``from __future__ import annotations``: pydantic would compile every annotation of
# these models back from its string (docs/ARCHITECTURE.md, "Start-up stays light").

import uuid
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from reconciler.records import RunAttributes
from reconciler.results.findings import RecordedFindings
from reconciler.results.model import RunResult

#: The state format written by this version. Older versions are upgraded on read
#: (``reconciler.state.codec``); newer ones are refused. Version 2 added run results, version 3
#: the findings recorded with them.
STATE_VERSION = 3
#: How many final results of earlier runs a key keeps (for "worse than last time" gates).
HISTORY_LIMIT = 5


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
    # A run without results serialises as before results existed (``result`` and ``history``
    # left out of dumps): state files in Git change only where there is something new to say.
    # ``exclude_if``, not a model serializer: docs/ARCHITECTURE.md, "Start-up stays light".
    #: The run's final result, once it was seen ended; never read from the API again.
    result: RunResult | None = Field(default=None, exclude_if=lambda result: result is None)
    #: Final results of the runs this key had before (replaced), oldest first, at most
    #: ``HISTORY_LIMIT``.
    history: tuple[RunResult, ...] = Field(default=(), exclude_if=lambda history: not history)

    @property
    def ended(self) -> bool:
        """True once a final result is recorded: the run will never change again."""
        return self.result is not None

    def earlier_results(self) -> tuple[RunResult, ...]:
        """What a run triggered for this key next inherits: the history, plus this run's own
        final result when it has one, bounded."""
        history = self.history + ((self.result,) if self.result is not None else ())
        return history[-HISTORY_LIMIT:]


class State(_Model):
    """A whole state: format version, lineage fixed at creation, serial bumped on each change."""

    version: int = STATE_VERSION
    lineage: str
    serial: int = 0
    runs: dict[str, TrackedRun] = Field(default_factory=dict)
    #: Final results of keys whose run left the state (cancelled), so that a run triggered
    #: for the key again (the second half of a replace, or the key coming back) still knows
    #: how its predecessors did. A recorded result is never thrown away by a cancel. Left out
    #: of dumps when empty, as before it existed.
    retired: dict[str, tuple[RunResult, ...]] = Field(
        default_factory=dict, exclude_if=lambda retired: not retired
    )

    @classmethod
    def new(cls) -> "State":
        return cls(lineage=str(uuid.uuid4()), serial=0, runs={})

    def with_runs(
        self, runs: dict[str, TrackedRun], retired: dict[str, tuple[RunResult, ...]] | None = None
    ) -> "State":
        """The next serial of this state holding ``runs`` (serial bumped only on change)."""
        retired = self.retired if retired is None else retired
        if runs == self.runs and retired == self.retired:
            return self
        return self.model_copy(update={"runs": runs, "retired": retired, "serial": self.serial + 1})

    def tracked_checksum(self) -> str:
        """sha256 of what the state tracks (keys, statuses, ids, attributes, trigger times),
        leaving out results: a saved plan stays valid when only results were recorded since,
        since a result changes what the runs found, never which runs exist."""
        import hashlib
        import json

        document = [
            [key, run.status, run.test_run_id, run.attributes.wire(), run.triggered_at]
            for key, run in sorted(self.runs.items())
        ]
        encoded = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(encoded).hexdigest()

    def earlier_results(self, key: str) -> tuple[RunResult, ...]:
        """What a new run of ``key`` inherits: its current run's results, or the retired ones."""
        current = self.runs.get(key)
        return current.earlier_results() if current is not None else self.retired.get(key, ())


JournalOp = Literal[
    # Written and flushed BEFORE the request is sent.
    "trigger-intent",
    "cancel-intent",
    # Written when the answer arrives.
    "trigger-done",  # test_run_id set
    "trigger-failed",  # provably not created (400, connect refused...): no state change
    "trigger-unknown",  # may exist: key becomes an unknown entry
    # cancelled, or nothing left to cancel: key leaves state. Also written alone, with no
    # intent and no request, for a run the plan knows has ended (``reconciler.apply``).
    "cancel-done",
    "cancel-failed",  # still running as far as we know: key stays
    # A ``moved:`` entry of the specs: the run under ``from_key`` is now under ``key``.
    "move",
    # A run was seen ended: its final result (``result``) is recorded for run ``test_run_id``.
    "result",
    # The findings of ended run ``test_run_id`` were read (``findings``): recorded with its
    # result, wherever the key keeps it (current run, history, or retired).
    "findings",
]


class JournalRecord(_Model):
    """One line of the journal. ``key`` is the spec key the operation is about."""

    # Built when first used: a plan reads no journal (startup time).
    model_config = ConfigDict(**_Model.model_config, defer_build=True)

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
    #: result: the final result of run ``test_run_id``.
    result: RunResult | None = None
    #: findings: what the export said about run ``test_run_id`` (identities only, no content).
    findings: RecordedFindings | None = None


def fold(state: State, records: list[JournalRecord]) -> State:
    """Replay journal records onto ``state``; pure, deterministic, idempotent per record.

    An intent with no outcome after it (the process died, or the answer never came) leaves the
    key as an ``unknown`` entry for a trigger, and leaves the run in place for a cancel (a cancel
    is safe to send again, so the next plan simply cancels again).
    """
    runs = dict(state.runs)
    retired = dict(state.retired)
    pending: dict[str, JournalRecord] = {}
    for rec in records:
        if rec.op == "move":
            # Only while the old key holds a run and the new one is free: replaying it is safe.
            if rec.from_key in runs and rec.key not in runs:
                runs[rec.key] = runs.pop(rec.from_key)
            continue
        if rec.op == "result":
            _record_result(runs, rec)
            continue
        if rec.op == "findings":
            _record_findings(runs, retired, rec)
            continue
        if rec.op in ("trigger-intent", "cancel-intent"):
            pending[rec.key] = rec
            continue
        intent = pending.pop(rec.key, None)
        if rec.op in ("trigger-done", "trigger-unknown"):
            _record_trigger(runs, retired, rec, intent)
        elif rec.op == "cancel-done":
            current = runs.get(rec.key)
            if current is not None and current.test_run_id == rec.test_run_id:
                del runs[rec.key]
                if current.earlier_results():
                    retired[rec.key] = current.earlier_results()
        # trigger-failed and cancel-failed change nothing.
    for key, intent in pending.items():
        if intent.op == "trigger-intent" and intent.attributes is not None:
            runs[key] = _unknown(
                intent.attributes,
                intent.at,
                "apply stopped before the API answered",
                _inherited(runs.get(key), None, retired.pop(key, ())),
            )
    return state.with_runs(runs, retired)


def _record_trigger(
    runs: dict[str, TrackedRun],
    retired: dict[str, tuple[RunResult, ...]],
    rec: JournalRecord,
    intent: JournalRecord | None,
) -> None:
    """A trigger's outcome: the key's new run, or an unknown entry. Either inherits the
    results of the runs the key had before."""
    attrs = rec.attributes or (intent.attributes if intent else None)
    if attrs is None:
        return  # an outcome without its intent: nothing trustworthy to record
    if rec.op == "trigger-unknown":
        history = _inherited(runs.get(rec.key), None, retired.pop(rec.key, ()))
        runs[rec.key] = _unknown(attrs, rec.at, rec.note or "no answer from the API", history)
        return
    if rec.test_run_id is None:
        return
    history = _inherited(runs.get(rec.key), rec.test_run_id, retired.pop(rec.key, ()))
    runs[rec.key] = TrackedRun(
        status="triggered",
        test_run_id=rec.test_run_id,
        attributes=attrs,
        triggered_at=rec.at,
        history=history,
    )


def _record_result(runs: dict[str, TrackedRun], rec: JournalRecord) -> None:
    """Record a final result on the run it belongs to. A result for a run the key no longer
    holds (replaced meanwhile), or for a run that has one already, changes nothing: an ended
    run's result never changes, and the first one recorded is kept."""
    current = runs.get(rec.key)
    if (
        current is None
        or rec.result is None
        or not rec.result.ended
        or current.test_run_id != rec.test_run_id
        or current.result is not None
    ):
        return
    runs[rec.key] = current.model_copy(update={"result": rec.result})


def _record_findings(
    runs: dict[str, TrackedRun], retired: dict[str, tuple[RunResult, ...]], rec: JournalRecord
) -> None:
    """Attach findings to the recorded result of run ``test_run_id`` of ``key``: its current
    run, or an earlier run in its history (or retired results). Later findings replace earlier
    ones (``findings --reread`` after a triage); a run whose result is not recorded (it has not
    ended, or the key no longer knows it) changes nothing."""
    findings = rec.findings
    if findings is None:
        return

    def attach(results: tuple[RunResult, ...]) -> tuple[RunResult, ...] | None:
        for i, result in enumerate(results):
            if result.test_run_id == rec.test_run_id:
                if result.findings == findings:
                    return None
                updated = result.model_copy(update={"findings": findings})
                return (*results[:i], updated, *results[i + 1 :])
        return None

    current = runs.get(rec.key)
    if current is not None:
        if current.result is not None and current.result.test_run_id == rec.test_run_id:
            changed = attach((current.result,))
            if changed is not None:
                runs[rec.key] = current.model_copy(update={"result": changed[0]})
            return
        history = attach(current.history)
        if history is not None:
            runs[rec.key] = current.model_copy(update={"history": history})
        return
    kept = attach(retired.get(rec.key, ()))
    if kept is not None:
        retired[rec.key] = kept


def _inherited(
    previous: TrackedRun | None, new_id: int | None, retired: tuple[RunResult, ...]
) -> tuple[RunResult, ...]:
    """The history a new run of a key starts with: the earlier runs' final results, from the
    run it replaces or, when that run was cancelled first, from what it left in ``retired``."""
    if previous is None:
        return retired
    if previous.test_run_id is not None and previous.test_run_id == new_id:
        return previous.history  # the same run recorded again (e.g. an import): no new entry
    return previous.earlier_results()


def _unknown(
    attrs: RunAttributes, at: str, note: str, history: tuple[RunResult, ...]
) -> TrackedRun:
    return TrackedRun(
        status="unknown", attributes=attrs, triggered_at=at, note=note, history=history
    )
