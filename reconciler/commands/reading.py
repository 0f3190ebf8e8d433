"""What ``status``, ``wait`` and ``report`` share: which tracked runs they look at, reading
their status, and recording what was learned (each then renders its own view)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reconciler import logs
from reconciler.defaults import API_KEY_ENV
from reconciler.errors import UsageError

if TYPE_CHECKING:
    from reconciler.commands.common import Session
    from reconciler.results.observation import Refresh
    from reconciler.results.summary import FindingsContext, ResultSet
    from reconciler.spec.model import DesiredSet
    from reconciler.state.model import JournalRecord, State, TrackedRun
    from reconciler.state.store import StateStore

log = logs.Log("reconciler.cli")

#: What a run that needed reading says when there is no key to read it with.
NO_KEY = f"not read: {API_KEY_ENV} is not set"


def select_tracked(state: State, targets: Sequence[str]) -> tuple[dict[str, TrackedRun], list[str]]:
    """The triggered runs of ``targets`` (default: all), and the selected keys whose trigger
    has an unknown outcome (no run id to ask about). A target not in state is a usage error."""
    from reconciler.reading.refresh import observable

    missing = [key for key in targets if key not in state.runs]
    if missing:
        known = ", ".join(sorted(state.runs)[:10]) or "none"
        raise UsageError(
            f"--target {missing[0]}: no run with that key in state (keys: {known}); "
            "`reconciler state list` shows every key."
        )
    wanted = set(targets) if targets else set(state.runs)
    unknown = sorted(k for k in wanted if state.runs[k].status == "unknown")
    return observable(state, targets or None), unknown


def unknown_outcomes(unknown: Sequence[str]) -> str | None:
    """The warning about keys with an unknown trigger outcome, or None when there are none."""
    if not unknown:
        return None
    shown = ", ".join(unknown[:10]) + (" ..." if len(unknown) > 10 else "")
    return (
        f"{len(unknown)} key{'s have' if len(unknown) != 1 else ' has'} an unknown trigger "
        f"outcome and no run id to read: {shown} (`reconciler plan` says how to resolve them)."
    )


def open_selection(
    session: Session, paths: Sequence[str], targets: Sequence[str]
) -> tuple[DesiredSet, StateStore, dict[str, TrackedRun]]:
    """What ``status``, ``findings`` and ``wait`` start from: the specs (none is fine), the
    state's store, and the selected tracked runs; the store's notes and the warning about
    unknown trigger outcomes are said on the way."""
    from reconciler.commands.common import load_desired, report_store_notes

    desired = load_desired(paths, session.settings, missing_ok=True)
    store = session.store()
    state = store.read()
    report_store_notes(session, store)
    runs, unknown = select_tracked(state, targets)
    warning = unknown_outcomes(unknown)
    if warning:
        session.console.warn(warning)
    return desired, store, runs


def read_statuses(session: Session, runs: dict[str, TrackedRun], parallelism: int) -> Refresh:
    """Ended runs from state, the others from the API (a progress line on a terminal);
    without an API key, those are marked not read instead."""
    from reconciler.reading.refresh import needs_read, refresh, unread
    from reconciler.ui import RefreshProgress, live_progress_wanted

    to_read = sum(1 for run in runs.values() if needs_read(run))
    if not to_read:
        return unread(runs, "")
    if session.settings.api_key is None:
        return unread(runs, NO_KEY)
    session.check_api_settings()
    live = live_progress_wanted(session.console.err_stream, session.settings.env)
    progress = RefreshProgress(session.console, to_read, live=live)
    client = session.client(parallelism=parallelism)
    try:
        return refresh(client, runs, parallelism=parallelism, on_observed=progress)
    finally:
        progress.finish()
        client.close()


def record_learned(
    session: Session,
    store: StateStore,
    refreshed: Refresh,
    *,
    operation: str,
    findings: Sequence[JournalRecord] = (),
) -> str | None:
    """Record newly ended results (and the findings read, after them) when the lock is free.
    Otherwise warn that they were not (and return the warning, for a page to show): a look
    must never wait for an apply."""
    from reconciler.reading.refresh import record_results, result_records

    results = result_records(refreshed)
    records = [*results, *findings]
    recorded = record_results(store, records, operation=operation)
    if recorded.skipped_because is None:
        if recorded.count:
            log.info("recorded %d final result(s) in state", recorded.count)
        if findings:
            log.info("recorded the findings of %d run(s) in state", len(findings))
        return None
    holder = store.lock_holder()
    who = holder.describe() if holder is not None else "another command"
    count = len(results)
    what = f"{count} newly ended result{'s' if count != 1 else ''}"
    if findings:
        what += f" and the findings of {len(findings)} run{'s' if len(findings) != 1 else ''}"
    note = (
        f"the state is locked by {who}: {what} shown but not recorded; a later status, wait, "
        "report or plan records them."
    )
    session.console.warn(note)
    return note


#: Why findings were not read when the user said not to.
NO_FINDINGS = "not read (--no-findings)"


@dataclass(frozen=True)
class FindingsWanted:
    """How a command reads findings: at all, again (``--reread``), and for the content."""

    enabled: bool = True
    again: bool = False


def read_findings_of(
    session: Session,
    refreshed: Refresh,
    desired: DesiredSet | None,
    parallelism: int,
    wanted: FindingsWanted,
) -> tuple[FindingsContext, list[JournalRecord]]:
    """Read the findings the ended runs of ``refreshed`` need (``reconciler.results.
    findings_reader``), warn about each probe run that could not be read, and return what the
    views need with the journal records to write. Without an API key, or with
    ``--no-findings``, nothing is sent and the runs say why."""
    from reconciler.reading.findings import journal_records, read_findings
    from reconciler.reading.findings import wanted as pick
    from reconciler.results.summary import FindingsContext

    declared = (
        {key: (run.file, run.line) for key, run in desired.runs.items()}
        if desired is not None
        else {}
    )
    if not wanted.enabled:
        return FindingsContext(declared=declared, not_read=NO_FINDINGS), []
    runs = pick(
        ((o.key, o.run, o.result) for o in refreshed.observations.values()), again=wanted.again
    )
    if not runs:
        return FindingsContext(declared=declared), []
    if session.settings.api_key is None:
        return FindingsContext(declared=declared, not_read=NO_KEY), []
    session.check_api_settings()
    client = session.client(parallelism=parallelism)
    try:
        reads = read_findings(client, runs, parallelism=parallelism)
    finally:
        client.close()
    for read in reads.values():
        for problem in read.errors:
            session.console.warn(problem)
    return FindingsContext(reads=reads, declared=declared), journal_records(reads)


def read_and_record(
    session: Session,
    store: StateStore,
    refreshed: Refresh,
    desired: DesiredSet | None,
    *,
    parallelism: int,
    wanted: FindingsWanted,
    operation: str,
) -> tuple[FindingsContext, str | None]:
    """The findings ``refreshed`` needs (``read_findings_of``), then every result and finding
    learned recorded in one go (``record_learned``; its warning is returned). When the export
    refuses the key (401, 403), the results already read are recorded before the error ends
    the command, so the next command need not read them again."""
    from reconciler.errors import ApiError

    try:
        context, found = read_findings_of(session, refreshed, desired, parallelism, wanted)
    except ApiError as exc:
        if exc.fatal:
            record_learned(session, store, refreshed, operation=operation)
        raise
    note = record_learned(session, store, refreshed, operation=operation, findings=found)
    return context, note


def read_results(
    session: Session,
    *,
    paths: Sequence[str],
    targets: Sequence[str],
    parallelism: int,
    wanted: FindingsWanted,
    operation: str,
) -> ResultSet:
    """What ``status`` and ``findings`` share: the selected runs' statuses (only those not
    ended) and findings (those not recorded), recorded, gated by the specs, as one result set.
    The specs give the gates and where runs are declared; without any, every run gets the
    default gate."""
    from reconciler.commands.common import gates_of
    from reconciler.results.summary import build_results
    from reconciler.state.model import utc_now

    # Resolved first: a bad --platform-url fails before any request is sent.
    platform = session.platform_url()
    desired, store, runs = open_selection(session, paths, targets)
    refreshed = read_statuses(session, runs, parallelism)
    context, _ = read_and_record(
        session,
        store,
        refreshed,
        desired,
        parallelism=parallelism,
        wanted=wanted,
        operation=operation,
    )
    gates = gates_of(session.settings, desired, runs)
    return build_results(refreshed, gates, platform=platform, read_at=utc_now(), findings=context)


class NoReads:
    """The StatusApi of a command in which every run has already ended: reading one is a bug."""

    def get_status(self, workspace_id: int, test_run_id: int, *, key: str, seen_at: str) -> None:
        raise AssertionError(f"internal error: status of {key!r} read though it has ended")

    def close(self) -> None:
        """Nothing to close."""
