"""``status``: what the tracked runs are doing and what they found, as a function returning
an exit code.

Exit codes: 3 when an ended run fails its gate (a gone run fails too); otherwise 1 when a
selected run that had to be read could not be (an API error, or no ``SPLX_API_KEY``): the user
asked about it and got no answer, so a pipeline must not go green; otherwise 0. Fatal API
errors (401, 403) end the command with exit 1 before anything is shown.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reconciler.commands.common import Session, gates_of, load_desired
from reconciler.commands.planning import report_store_notes
from reconciler.defaults import API_KEY_ENV, DEFAULT_PARALLELISM
from reconciler.errors import UsageError

if TYPE_CHECKING:
    from reconciler.results.refresh import Observation, Refresh
    from reconciler.results.summary import ResultSet
    from reconciler.state.model import State, TrackedRun
    from reconciler.state.store import StateStore

log = logging.getLogger("reconciler.cli")

EXIT_OK = 0
EXIT_ERROR = 1

#: What a run that needed reading says when there is no key to read it with.
NO_KEY = f"not read: {API_KEY_ENV} is not set"


@dataclass(frozen=True)
class StatusOptions:
    """What ``status`` shows: which specs give the gates, which keys, in which format."""

    paths: Sequence[str] = ()
    targets: Sequence[str] = ()
    fmt: str = "text"
    parallelism: int = DEFAULT_PARALLELISM


def status(session: Session, options: StatusOptions) -> int:
    from reconciler.results.summary import build_results
    from reconciler.state.model import utc_now

    if options.parallelism < 1:
        raise UsageError(f"--parallelism must be at least 1, got {options.parallelism}")
    if options.fmt not in ("text", "json", "markdown"):
        raise UsageError(f"--format {options.fmt}: use text, json or markdown")
    # Resolved first: a bad --platform-url fails before any request is sent.
    platform = session.platform_url()
    # Specs give the gates only; without any, every run gets the default gate.
    desired = load_desired(options.paths, session.settings, missing_ok=True)
    store = session.store()
    state = _read_state(store)
    report_store_notes(session, store)
    runs = _selected(state, options.targets, session)
    refreshed = _read(session, runs, options.parallelism)
    _record(session, store, refreshed)
    gates = gates_of(session.settings, desired, runs)
    results = build_results(refreshed, gates, platform=platform, read_at=utc_now())
    _show(session, results, options.fmt)
    return _exit_code(session, results)


def _read_state(store: StateStore) -> State:
    """The state, read with the cycle collector paused, then kept out of its sight: it lives
    until the command ends, and with 10,000 runs every full collection would walk ~200,000
    objects that hold no cycles (reference counting still frees what is dropped)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return store.read()
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _selected(state: State, targets: Sequence[str], session: Session) -> dict[str, TrackedRun]:
    """The triggered runs to show; --target keys must be tracked. Unknown trigger outcomes
    have no id to ask about: they are named on stderr, not shown as rows."""
    from reconciler.results.refresh import observable

    missing = [key for key in targets if key not in state.runs]
    if missing:
        known = ", ".join(sorted(state.runs)[:10]) or "none"
        raise UsageError(
            f"--target {missing[0]}: no run with that key in state (keys: {known}); "
            "`reconciler state list` shows every key."
        )
    wanted = set(targets) if targets else set(state.runs)
    unknown = sorted(k for k in wanted if state.runs[k].status == "unknown")
    if unknown:
        session.console.warn(
            f"{len(unknown)} key{'s have' if len(unknown) != 1 else ' has'} an unknown trigger "
            f"outcome and no run id to read: {', '.join(unknown)} (`reconciler plan` says how "
            "to resolve them)."
        )
    return observable(state, targets or None)


def _read(session: Session, runs: dict[str, TrackedRun], parallelism: int) -> Refresh:
    """Ended runs from state; the others from the API, or marked not read without a key."""
    from reconciler.results.refresh import Observation, Refresh, needs_read, refresh
    from reconciler.ui import ReadProgress, live_progress_wanted

    to_read = sum(1 for run in runs.values() if needs_read(run))
    if to_read and session.settings.api_key is None:
        return Refresh(
            {
                key: Observation(key, run, run.result, "state")
                if not needs_read(run)
                else Observation(key, run, None, "none", error=NO_KEY)
                for key, run in runs.items()
            }
        )
    if not to_read:
        return refresh(_NoReads(), runs, parallelism=parallelism)
    session.check_api_settings()
    live = live_progress_wanted(session.console.err_stream, session.settings.env)
    progress = ReadProgress(session.console, to_read, live=live)

    def observed(observation: Observation) -> None:
        progress(readable=observation.error is None)

    client = session.client(parallelism=parallelism)
    try:
        return refresh(client, runs, parallelism=parallelism, on_observed=observed)
    finally:
        progress.finish()
        client.close()


class _NoReads:
    """The StatusApi of a refresh with nothing to read: every run has ended."""

    def get_status(self, workspace_id: int, test_run_id: int, *, key: str, seen_at: str) -> None:
        raise AssertionError(f"internal error: status of {key!r} read though it has ended")


def _record(session: Session, store: StateStore, refreshed: Refresh) -> None:
    """Record newly ended results when the lock is free; otherwise say they were not."""
    from reconciler.results.refresh import record_results

    records = refreshed.records
    recorded = record_results(store, records, operation="status")
    if recorded.skipped_because is None:
        if recorded.count:
            log.info("recorded %d final result(s) in state", recorded.count)
        return
    holder = store.lock_holder()
    who = holder.describe() if holder is not None else "another command"
    count = len(records)
    session.console.warn(
        f"the state is locked by {who}: {count} newly ended result{'s' if count != 1 else ''} "
        "shown but not recorded; a later status or plan records them."
    )


def _show(session: Session, results: ResultSet, fmt: str) -> None:
    if fmt == "json":
        from reconciler.results.views.json import render_status_json

        session.console.out(render_status_json(results), nl=False)
        return
    if fmt == "markdown":
        from reconciler.results.views.markdown import render_markdown

        session.console.out(render_markdown(results), nl=False)
        return
    from reconciler.results.views.text import render_status

    session.console.out(render_status(results, color=session.console.color), nl=False)


def _exit_code(session: Session, results: ResultSet) -> int:
    code = results.exit_code()
    unread = results.unreadable
    if code != EXIT_OK or not unread:
        return code
    names = ", ".join(row.key for row in unread[:10]) + (" ..." if len(unread) > 10 else "")
    if all(row.error == NO_KEY for row in unread):
        session.console.error(
            f"{len(unread)} run{'s' if len(unread) != 1 else ''} not ended could not be read "
            f"without {API_KEY_ENV}: {names}. Set it to read them (runs that have ended are "
            "shown from state)."
        )
    else:
        session.console.error(
            f"could not read {len(unread)} run{'s' if len(unread) != 1 else ''}: {names} "
            "(the reasons are above); try again later."
        )
    return EXIT_ERROR
