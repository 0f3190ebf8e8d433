"""The refresh before ``plan``, ``apply`` and ``destroy``: read the status of tracked runs not
known to have ended, so the plan can see runs cancelled outside reconciler, ended in Error, gone
from the platform, or come due (``rerunAfter``), and apply sends no cancel to a run that ended.

The reading itself is ``reconciler.reading.refresh``; this module decides whether to read
(``--refresh``, an API key), shows progress, reports the runs it could not read, and hands the
planner what was read, by test run id. Nothing here is imported (nor httpx) when
``--refresh=false`` or when no tracked run needs reading.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING

from reconciler import logs
from reconciler.defaults import API_KEY_ENV
from reconciler.plan.model import Observed
from reconciler.reading.refresh import needs_read, observable

if TYPE_CHECKING:
    from reconciler.commands.common import Session
    from reconciler.plan.model import Plan
    from reconciler.spec.model import DesiredSet
    from reconciler.state.model import JournalRecord, State

log = logs.Log("reconciler.cli")


def refresh_for_plan(
    session: Session,
    state: State,
    desired: DesiredSet,
    *,
    targets: Collection[str],
    parallelism: int,
    offline_ok: bool,
) -> Mapping[int, Observed] | None:
    """What the refresh read, by test run id; None when it was skipped for want of a key
    (``offline_ok``: said in one line; otherwise the client's missing-key error ends it).

    An empty mapping means refreshed with nothing to read (every tracked run has its final
    result recorded, or none is tracked). 401/403 end the command (``ApiError`` raised).
    """
    runs = observable(state, _keys(targets, desired))
    to_read = {key: run for key, run in runs.items() if needs_read(run)}
    if not to_read:
        return {}
    if offline_ok and session.settings.api_key is None:
        count = len(to_read)
        session.console.info(
            f"Note: {API_KEY_ENV} is not set, so the status of {count} tracked "
            f"run{'s' if count != 1 else ''} was not read (an offline plan: runs cancelled "
            "or ended on the platform do not show). Set the key, or pass --refresh=false to "
            "skip the refresh on purpose."
        )
        return None
    from reconciler.reading.refresh import refresh
    from reconciler.ui import RefreshProgress, live_progress_wanted

    console = session.console
    progress = RefreshProgress(
        console, len(to_read), live=live_progress_wanted(console.err_stream, session.settings.env)
    )
    client = session.client(parallelism=parallelism)
    try:
        outcome = refresh(client, to_read, parallelism=parallelism, on_observed=progress)
    finally:
        progress.finish()
        client.close()
    log.info("refresh: %d status request(s)", outcome.requests)
    for failed in outcome.unreadable:
        console.warn(f"{failed.error} It is planned as if not refreshed.")
    return {
        observation.test_run_id: Observed(
            result=observation.result, gone=observation.gone, error=observation.error
        )
        for observation in outcome.observations.values()
        if observation.source != "state"
    }


def _keys(targets: Collection[str], desired: DesiredSet) -> set[str] | None:
    """The state keys a --target selection reads: the targets, and the keys their runs are
    tracked under before a ``moved:`` entry renames them."""
    if not targets:
        return None
    wanted = set(targets)
    return wanted | {move.source for move in desired.moves if move.target in wanted}


def result_records(plan: Plan) -> list[JournalRecord]:
    """The final results the plan's refresh read, as journal records to record in state.

    Keyed as the state knows the run before the plan's moves (``moved_from``). The same
    records come from a fresh plan and from a saved one, so ``apply --plan`` records what the
    reviewed plan read instead of reading again.
    """
    from reconciler.state.model import JournalRecord

    records = []
    for change in plan.changes:
        observed, before = change.observed, change.before
        if observed is None or observed.result is None or not observed.result.ended:
            continue
        if before is None or before.test_run_id is None or before.result is not None:
            continue
        records.append(
            JournalRecord(
                op="result",
                key=change.moved_from or change.key,
                test_run_id=before.test_run_id,
                result=observed.result,
            )
        )
    return records
