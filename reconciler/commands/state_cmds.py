"""Reading and repairing state: ``state list|show|rm``, ``import``, ``force-unlock``."""

from __future__ import annotations

import json
from collections.abc import Sequence

from reconciler.commands.common import Session, load_desired
from reconciler.errors import StateError, UsageError
from reconciler.limits import INT32_MAX
from reconciler.state.model import State, TrackedRun, utc_now


def _entry_json(key: str, run: TrackedRun) -> dict[str, object]:
    data: dict[str, object] = {"key": key, **run.model_dump(mode="json", by_alias=True)}
    return data


def state_list(session: Session) -> int:
    store = session.store()
    # read() includes a journal a crash left behind, even before any state file exists.
    state = store.read()
    if not state.runs and not store.exists():
        session.console.info(f"No state at {store.location} yet: nothing is tracked.")
        return 0
    for key in sorted(state.runs):
        run = state.runs[key]
        ident = run.test_run_id if run.test_run_id is not None else "unknown"
        session.console.out(f"{key}\t{ident}\t{run.status}")
    return 0


def state_show(session: Session, key: str, *, as_json: bool) -> int:
    state = session.store().read()
    run = _require(state, key)
    if as_json:
        session.console.out(json.dumps(_entry_json(key, run), indent=2, sort_keys=True))
        return 0
    attrs = run.attributes
    lines = [
        f"# {key}",
        f"status             = {run.status}",
        f"testRunId          = {run.test_run_id if run.test_run_id is not None else '(unknown)'}",
        f"workspaceId        = {attrs.workspace_id}",
        f"targetId           = {attrs.target_id}",
        f"probeIds           = {list(attrs.probe_ids)}",
        f"name               = {json.dumps(attrs.name)}",
        f"runAiAnalysis      = {str(attrs.run_ai_analysis).lower()}",
        f"notifyWhenFinished = {str(attrs.notify_when_finished).lower()}",
        f"triggeredAt        = {run.triggered_at}",
    ]
    if run.note:
        lines.append(f"note               = {run.note}")
    session.console.out("\n".join(lines))
    return 0


def _require(state: State, key: str) -> TrackedRun:
    run = state.runs.get(key)
    if run is None:
        known = ", ".join(sorted(state.runs)[:10]) or "none"
        raise StateError(
            f"no run with key {key!r} in state (keys: {known}). "
            "`reconciler state list` shows every key."
        )
    return run


def state_rm(session: Session, keys: Sequence[str]) -> int:
    store = session.store()
    with store.lock("state rm", timeout=session.settings.lock_timeout):
        state = store.recover()
        for key in keys:
            _require(state, key)
        runs = {k: v for k, v in state.runs.items() if k not in set(keys)}
        store.persist(state.with_runs(runs))
    for key in keys:
        session.console.out(
            f"Removed {key} from state. The run itself was not cancelled; the next plan will "
            "trigger it again if its key is still in the specs."
        )
    return 0


def import_run(session: Session, key: str, test_run_id: int, paths: Sequence[str]) -> int:
    if not 1 <= test_run_id <= INT32_MAX:
        raise UsageError(f"TEST_RUN_ID must be a positive int32, got {test_run_id}")
    desired = load_desired(paths, session.settings)
    wanted = desired.runs.get(key)
    if wanted is None:
        raise UsageError(
            f"cannot import {key!r}: no such key in the specs. Add the run to a spec file "
            "first, so that the state records the attributes it was triggered with."
        )
    store = session.store()
    with store.lock("import", timeout=session.settings.lock_timeout):
        state = store.recover()
        holder = next(
            (k for k, run in state.runs.items() if run.test_run_id == test_run_id and k != key),
            None,
        )
        if holder is not None:
            raise StateError(
                f"run {test_run_id} is already tracked as {holder!r}: one run cannot belong to "
                f"two keys (a cancel of either would cancel both). Check the id, or move it "
                f"with a `moved:` entry from {holder!r} to {key!r}."
            )
        current = state.runs.get(key)
        if current is not None and current.status == "triggered":
            raise StateError(
                f"{key!r} already tracks run {current.test_run_id}. To adopt run "
                f"{test_run_id} instead, first `reconciler state rm {key}`."
            )
        runs = dict(state.runs)
        runs[key] = TrackedRun(
            status="triggered",
            test_run_id=test_run_id,
            attributes=wanted.attributes,
            triggered_at=utc_now(),
            note="imported",
            history=state.earlier_results(key),
        )
        retired = {k: v for k, v in state.retired.items() if k != key}
        store.persist(state.with_runs(runs, retired))
    session.console.out(f"Imported run {test_run_id} as {key} (declared at {wanted.source}).")
    return 0


def force_unlock(session: Session, lock_id: str) -> int:
    store = session.store()
    removed = store.force_unlock(lock_id)
    session.console.out(f"Removed {removed.describe()}.")
    return 0


def state_copy(session: Session, source: str, destination: str) -> int:
    from reconciler.state import open_store
    from reconciler.state.migrate import copy_state

    src, dst = open_store(source), open_store(destination)
    copied = copy_state(src, dst, lock_timeout=session.settings.lock_timeout)
    session.console.out(
        f"Copied state {copied.lineage} (serial {copied.serial}, {len(copied.runs)} runs) "
        f"from {src.location} to {dst.location}."
    )
    return 0
