"""Reading and repairing state: ``state list|show|rm``, ``import``, ``force-unlock``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from reconciler.commands.common import Session, load_desired
from reconciler.defaults import API_KEY_ENV
from reconciler.errors import StateError, UsageError
from reconciler.limits import INT32_MAX
from reconciler.records import show_probe_ids
from reconciler.state.model import State, TrackedRun, utc_now

if TYPE_CHECKING:
    from reconciler.records import RunAttributes
    from reconciler.results.model import RunResult


def _entry_json(key: str, run: TrackedRun, url: str | None) -> dict[str, object]:
    data: dict[str, object] = {"key": key, **run.model_dump(mode="json", by_alias=True)}
    # The run on the platform; null for an unknown outcome (there is no id to link to).
    data["url"] = url
    return data


def _url(session: Session, run: TrackedRun) -> str | None:
    from reconciler.results.links import run_url

    if run.test_run_id is None:
        return None
    attrs = run.attributes
    return run_url(session.platform_url(), attrs.workspace_id, attrs.target_id, run.test_run_id)


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
    url = _url(session, run)
    if as_json:
        session.console.out(json.dumps(_entry_json(key, run, url), indent=2, sort_keys=True))
        return 0
    attrs = run.attributes
    lines = [
        f"# {key}",
        f"status             = {run.status}",
        f"testRunId          = {run.test_run_id if run.test_run_id is not None else '(unknown)'}",
        f"workspaceId        = {attrs.workspace_id}",
        f"targetId           = {attrs.target_id}",
        f"probeIds           = {show_probe_ids(attrs.probe_ids)}",
        f"name               = {json.dumps(attrs.name)}",
        f"runAiAnalysis      = {str(attrs.run_ai_analysis).lower()}",
        f"notifyWhenFinished = {str(attrs.notify_when_finished).lower()}",
        f"triggeredAt        = {run.triggered_at}",
    ]
    if run.note:
        lines.append(f"note               = {run.note}")
    if run.result is not None:
        result = run.result
        lines.append(f"result             = {result.status}, {result.counts.describe()}")
        lines.append(f"resultSeenAt       = {result.seen_at}")
    if run.history:
        earlier = ", ".join(f"{r.test_run_id} {r.status}" for r in run.history)
        lines.append(f"history            = {earlier}")
    if url is not None:
        lines.append(f"url                = {url}")
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
        # Forgetting a run is not forgetting what it found: the key's results stay, so a run
        # imported or triggered for it later is still gated against them (maxFailedIncrease).
        retired = dict(state.retired)
        kept = {key: state.runs[key].earlier_results() for key in keys}
        retired.update({key: results for key, results in kept.items() if results})
        store.persist(state.with_runs(runs, retired))
    for key in keys:
        kept_note = (
            f" Its recorded results ({len(kept[key])}) are kept for the key's next run."
            if kept[key]
            else ""
        )
        session.console.out(
            f"Removed {key} from state. The run itself was not cancelled; the next plan will "
            f"trigger it again if its key is still in the specs.{kept_note}"
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
    # Refusals that need no request come first; they are checked again under the lock.
    _refuse_conflicts(store.read(), key, test_run_id)
    result = _check_import(session, key, test_run_id, wanted.attributes)
    with store.lock("import", timeout=session.settings.lock_timeout):
        state = store.recover()
        _refuse_conflicts(state, key, test_run_id)
        runs = dict(state.runs)
        runs[key] = TrackedRun(
            status="triggered",
            test_run_id=test_run_id,
            attributes=wanted.attributes,
            triggered_at=utc_now(),
            note="imported",
            # An ended run's result is a fact that never changes: record it at once.
            result=result if result is not None and result.ended else None,
            history=tuple(r for r in state.earlier_results(key) if r.test_run_id != test_run_id),
        )
        retired = {k: v for k, v in state.retired.items() if k != key}
        store.persist(state.with_runs(runs, retired))
    session.console.out(f"Imported run {test_run_id} as {key} (declared at {wanted.source}).")
    if result is not None:
        ended = " (recorded: it has ended)" if result.ended else ""
        session.console.out(f"  {result.status}, {result.counts.describe()}{ended}")
    url = _url(session, runs[key])
    if url is not None:
        session.console.out(f"  {url}")
    return 0


def _refuse_conflicts(state: State, key: str, test_run_id: int) -> None:
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


def _check_import(
    session: Session, key: str, test_run_id: int, attributes: RunAttributes
) -> RunResult | None:
    """Ask the platform about the run before adopting it (when there is a key to ask with):
    an id it does not know is refused, probes other than the spec's are a warning. Without
    a key the user is trusted, and told so."""
    if session.settings.api_key is None:
        session.console.info(
            f"{API_KEY_ENV} is not set: run {test_run_id} is imported as given, without "
            "checking that the platform knows it."
        )
        return None
    from reconciler.errors import ApiError

    session.check_api_settings()
    client = session.client(parallelism=1)
    try:
        result = client.get_status(attributes.workspace_id, test_run_id, key=key, seen_at=utc_now())
    except ApiError as exc:
        if exc.fatal:
            raise
        raise UsageError(
            f"cannot import run {test_run_id} as {key!r}: could not check it with the "
            f"platform ({exc}). Nothing was imported; try again, or unset {API_KEY_ENV} to "
            "import it unchecked."
        ) from None
    finally:
        client.close()
    if result is None:
        raise UsageError(
            f"cannot import run {test_run_id} as {key!r}: the platform has no test run "
            f"{test_run_id} in workspace {attributes.workspace_id} (the status endpoint "
            "answered 404). Check the id: it is the number after /test-runs/ in the run's link."
        )
    found = sorted({p.probe_id for p in result.probe_runs if p.probe_id is not None})
    # probeIds: null (the target's configured probes) has no list to compare with.
    declared = None if attributes.probe_ids is None else sorted(set(attributes.probe_ids))
    if found and declared is not None and found != declared:
        session.console.warn(
            f"run {test_run_id} ran probes {found}, but {key!r} declares probeIds "
            f"{declared}: the next plan shows no change, yet the run does not test what the "
            "spec says. Import the right run, or replace it (`reconciler apply --replace "
            f"{key}`)."
        )
    return result


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
