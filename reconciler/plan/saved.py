"""Saved plans: ``reconciler plan --out FILE`` and ``reconciler apply --plan FILE``.

A saved plan is the JSON plan document (``render.plan_document``) inside a small versioned
envelope. It holds only what the plan holds: keys, run ids, run attributes, spec locations and
the options it was made with; never the API key. It is written atomically
(``files.atomic_write``: a temporary file in the same directory, fsynced, renamed over the
target, then the directory fsynced) so a crash never leaves half a plan behind, and it is
deterministic: the same plan always gives the same bytes.

Before applying, ``check_fresh`` compares the state lineage and serial and the specs checksum
recorded in the plan with the current ones, as octoDNS and Terraform do: a plan reviewed against
another state or other specs is not the plan that would run. The specs checksum is of what the
specs resolve to (``spec.model.desired_checksum``), so a comment or a reformatted file keeps a
plan fresh while a changed value, however it came about, makes it stale.
"""

# Not ``from __future__ import annotations``: pydantic would compile every annotation of
# these models back from its string (docs/ARCHITECTURE.md, "Start-up stays light").

import json
import os
import shlex
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from reconciler.errors import PlanError, StalePlanError
from reconciler.files import atomic_write
from reconciler.plan.model import Action, Change, FieldChange, Observed, Plan, PlanOptionsRecord
from reconciler.plan.render import plan_document
from reconciler.records import RunAttributes
from reconciler.results.model import RunResult
from reconciler.spec.model import DesiredSet
from reconciler.state.model import State, TrackedRun
from reconciler.validation import describe_validation_error

SAVED_PLAN_FORMAT = "reconciler-saved-plan"
#: The envelope version written by this reconciler; others are refused with the advice to plan
#: again (a plan is cheap to make; guessing what an older one meant is not safe). Version 2:
#: typed, versioned options (``PlanOptionsRecord``) and the refresh's reads per run.
SAVED_PLAN_VERSION = 2


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _FieldChangeDoc(_Doc):
    field: str
    before: Any
    after: Any
    detail: str


class _ObservedDoc(_Doc):
    status: str | None
    ended: bool
    gone: bool
    error: str | None
    result: RunResult | None


class _OptionsDoc(_Doc):
    version: Literal[1]
    targets: tuple[str, ...]
    replace: tuple[str, ...]
    retrigger_unknown: bool
    destroy: bool
    refresh: bool
    paths: tuple[str, ...]
    state: str | None


class _ChangeDoc(_Doc):
    key: str
    action: Action
    actions: list[str]
    reason: str
    source: str | None
    before: TrackedRun | None
    after: RunAttributes | None
    changed_fields: list[_FieldChangeDoc]
    moved_from: str | None = None
    refreshed: _ObservedDoc | None = None
    #: For people reading the file: derived from the rest when the plan is loaded.
    nothing_to_cancel: str | None = None


class _StateRefDoc(_Doc):
    lineage: str
    serial: int
    tracked: str | None = None


class _PlanDoc(_Doc):
    format_version: str
    reconciler_version: str
    state: _StateRefDoc
    specs_checksum: str
    options: _OptionsDoc
    runs: list[_ChangeDoc]
    summary: dict[str, int]


class _SavedPlanDoc(_Doc):
    format: Literal["reconciler-saved-plan"]
    version: int
    plan: _PlanDoc


def dumps_plan(plan: Plan) -> str:
    """The bytes of a saved plan, as text: deterministic for a given plan."""
    envelope = {
        "format": SAVED_PLAN_FORMAT,
        "version": SAVED_PLAN_VERSION,
        "plan": plan_document(plan),
    }
    return json.dumps(envelope, indent=2, ensure_ascii=False) + "\n"


def save_plan(plan: Plan, path: str | os.PathLike[str]) -> None:
    """Write ``plan`` to ``path`` atomically; raises ``PlanError`` if it cannot be written."""
    target = Path(path)
    try:
        atomic_write(target, dumps_plan(plan).encode())
    except OSError as err:
        raise PlanError(f"cannot write plan file {target}: {err.strerror or err}") from None


def load_plan(path: str | os.PathLike[str]) -> Plan:
    """Read a plan saved by ``save_plan``; ``PlanError`` for a missing, corrupt or foreign file."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as err:
        raise PlanError(f"cannot read plan file {source}: {err.strerror or err}") from err
    except UnicodeDecodeError as err:
        raise _not_a_plan(str(source), "it is not UTF-8 text") from err
    return loads_plan(text, source=str(source))


def loads_plan(text: str, *, source: str = "<plan>") -> Plan:
    """Parse the text of a saved plan; ``source`` names it in error messages."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise _not_a_plan(source, f"invalid JSON at line {err.lineno}: {err.msg}") from err
    if not isinstance(raw, dict) or raw.get("format") != SAVED_PLAN_FORMAT:
        raise _not_a_plan(source, f'it has no "format": "{SAVED_PLAN_FORMAT}" marker')
    version = raw.get("version")
    if isinstance(version, int) and version > SAVED_PLAN_VERSION:
        raise PlanError(
            f"plan file {source} was written by a newer reconciler (plan file version "
            f"{version}, this one reads up to {SAVED_PLAN_VERSION}); upgrade reconciler, "
            f"or run `reconciler plan --out {shlex.quote(source)}` again with this one"
        )
    if isinstance(version, int) and version < SAVED_PLAN_VERSION:
        raise PlanError(
            f"plan file {source} was written by an older reconciler (plan file version "
            f"{version}; this one reads version {SAVED_PLAN_VERSION}), so it cannot be applied "
            f"as reviewed: run `reconciler plan --out {shlex.quote(source)}` again, review "
            "it, and apply the new plan"
        )
    try:
        doc = _SavedPlanDoc.model_validate(raw)
    except ValidationError as err:
        raise _not_a_plan(source, describe_validation_error(err)) from err
    return _plan_from_doc(doc.plan, source)


def _plan_from_doc(doc: _PlanDoc, source: str) -> Plan:
    changes = []
    for run in doc.runs:
        if run.actions != run.action.json_actions:
            raise _not_a_plan(source, f"run {run.key}: actions do not match {run.action.value}")
        fields = tuple(
            FieldChange(field=f.field, before=f.before, after=f.after, detail=f.detail)
            for f in run.changed_fields
        )
        changes.append(
            Change(
                key=run.key,
                action=run.action,
                before=run.before,
                after=run.after,
                reason=run.reason,
                changed_fields=fields,
                source=run.source,
                moved_from=run.moved_from,
                observed=_observed(run.refreshed),
            )
        )
    options = doc.options
    return Plan(
        changes=tuple(changes),
        lineage=doc.state.lineage,
        serial=doc.state.serial,
        specs_checksum=doc.specs_checksum,
        tracked_checksum=doc.state.tracked,
        options=PlanOptionsRecord(
            targets=options.targets,
            replace=options.replace,
            retrigger_unknown=options.retrigger_unknown,
            destroy=options.destroy,
            refresh=options.refresh,
            paths=options.paths,
            state=options.state,
        ),
    )


def _observed(doc: _ObservedDoc | None) -> Observed | None:
    if doc is None:
        return None
    return Observed(result=doc.result, gone=doc.gone, error=doc.error)


def _not_a_plan(source: str, why: str) -> PlanError:
    return PlanError(
        f"{source} is not a usable reconciler plan file ({why}); "
        "make one with `reconciler plan --out FILE`"
    )


def check_fresh(
    plan: Plan,
    state: State,
    desired: DesiredSet,
    *,
    plan_file: str = "FILE",
    plan_args: str = "",
) -> None:
    """Raise ``StalePlanError`` if the state or the specs moved since ``plan`` was made.

    ``plan_args`` (spec PATHs, ``--state``) are repeated in the suggested ``plan`` command.

    A state that was never written (serial 0, no runs) gets a fresh lineage each time it is
    created in memory, so two such states count as the same state.
    """
    again = (
        f"Run `reconciler plan{plan_args} --out {shlex.quote(plan_file)}` again, review it, "
        "and apply the new plan."
    )
    never_written = plan.serial == 0 and state.serial == 0 and not state.runs
    if state.lineage != plan.lineage and plan.serial == 0 and not never_written:
        # A plan made before any state was written names a lineage that was never persisted.
        raise StalePlanError(
            f"the state changed since the plan was made: no state existed then, and one "
            f"has been written since (now at serial {state.serial}, by another apply or "
            f"import), unless --state now points at another file. {again}"
        )
    if state.lineage != plan.lineage and not never_written:
        raise StalePlanError(
            f"the saved plan was made against another state (lineage {plan.lineage}, "
            f"the state now has lineage {state.lineage}); is --state pointing at the right "
            f"file? {again}"
        )
    if state.serial != plan.serial and not _only_results_recorded(plan, state):
        raise StalePlanError(
            f"the state changed since the plan was made (serial {plan.serial} → "
            f"{state.serial}): another apply, import or state rm ran in between. {again}"
        )
    if desired.checksum != plan.specs_checksum:
        # The checksum covers the resolved runs, not the bytes: comments and layout never count.
        raise StalePlanError(
            "the specs ask for something else than when the plan was made: a run key, a "
            "field (as written, or through a ${VAR}, a probe set or reconciler.yaml), a "
            f"protect mark or a moved: entry changed. {again}"
        )


def _only_results_recorded(plan: Plan, state: State) -> bool:
    """True when the state moved on only by recording results (``status``, ``wait``,
    ``report``): it still tracks exactly the runs the plan was made for."""
    return plan.tracked_checksum is not None and plan.tracked_checksum == state.tracked_checksum()
