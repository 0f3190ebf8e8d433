"""Reading what tracked runs are doing: which runs to ask about, asking in parallel, recording.

Only runs that are not known to have ended are read: a run whose final result is recorded in
state never changes, so it costs no request (``status`` over 10,000 ended runs sends nothing).
A read is free and safe to repeat; a run that cannot be read is reported, never guessed at,
and a refresh that fails for some runs still answers for the rest.

The core returns data (``Refresh``); recording it is ``record_results``, and printing is the
CLI's job.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from reconciler.errors import ApiError, LockError
from reconciler.reading.pool import run_all
from reconciler.results.observation import Observation, Refresh
from reconciler.state.model import JournalRecord, State, TrackedRun, fold, utc_now

if TYPE_CHECKING:
    from reconciler.api.base import StatusApi
    from reconciler.state.store import StateStore


def result_records(refreshed: Refresh) -> list[JournalRecord]:
    """The journal records of the final results ``refreshed`` learned: what to record."""
    return [
        JournalRecord(op="result", key=o.key, test_run_id=o.test_run_id, result=o.result)
        for o in refreshed.observations.values()
        if o.newly_ended
    ]


def observable(state: State, keys: Iterable[str] | None = None) -> dict[str, TrackedRun]:
    """The runs a refresh can say something about: triggered (they have an id), sorted by key,
    limited to ``keys`` when given. Unknown outcomes have no id to ask about."""
    wanted = None if keys is None else set(keys)
    return {
        key: run
        for key, run in sorted(state.runs.items())
        if run.status == "triggered"
        and run.test_run_id is not None
        and (wanted is None or key in wanted)
    }


def needs_read(run: TrackedRun) -> bool:
    """True while a run's final result is not recorded."""
    return run.result is None


def refresh(
    api: StatusApi,
    runs: dict[str, TrackedRun],
    *,
    parallelism: int = 10,
    now: Callable[[], str] = utc_now,
    on_observed: Callable[[Observation], None] | None = None,
) -> Refresh:
    """Read the status of every run in ``runs`` that has not ended, ``parallelism`` at a time.

    Ended runs are answered from state. A fatal API error (401, 403, no key) stops the refresh
    and is raised: every other run would fail the same way. Any other failure is kept as that
    run's ``error``. ``on_observed`` is called (from worker threads, one call at a time) as
    each run is read, for progress displays.
    """
    if parallelism < 1:
        raise ValueError(f"parallelism must be at least 1, not {parallelism}")
    outcome = Refresh()
    to_read: list[tuple[str, TrackedRun]] = []
    for key, run in runs.items():
        if needs_read(run):
            to_read.append((key, run))
        else:
            outcome.observations[key] = Observation(key, run, run.result, "state")
    observed: dict[str, Observation] = {}
    lock = threading.Lock()

    def read(key: str, run: TrackedRun) -> None:
        assert run.test_run_id is not None
        try:
            result = api.get_status(
                run.attributes.workspace_id, run.test_run_id, key=key, seen_at=now()
            )
        except ApiError as exc:
            if exc.fatal:
                raise
            observation = Observation(key, run, None, "none", error=str(exc))
        else:
            observation = (
                Observation(key, run, None, "none", gone=True)
                if result is None
                else Observation(key, run, result, "api")
            )
        with lock:
            observed[key] = observation
            if on_observed is not None:
                on_observed(observation)

    run_all([partial(read, key, run) for key, run in to_read], parallelism)
    outcome.requests = len(observed)
    outcome.observations.update(observed)
    outcome.observations = dict(sorted(outcome.observations.items()))
    return outcome


@dataclass(frozen=True)
class Recorded:
    """What ``record_results`` did: how many results it wrote, or why it wrote none."""

    count: int
    #: Set when the results could not be recorded (the state is locked by another command).
    skipped_because: str | None = None


def record_results(store: StateStore, records: list[JournalRecord], *, operation: str) -> Recorded:
    """Record final results in state if the lock can be had at once; otherwise record nothing
    and say why (a read-only look must never wait for, or break, a running apply).

    Results are facts about runs that cannot change, so a state that moved since they were read
    is no problem: ``fold`` keeps only results whose run the key still holds.
    """
    if not records:
        return Recorded(0)
    try:
        with store.lock(operation, timeout=0):
            state = store.recover()
            after = fold(state, records)
            if after is not state:
                store.persist(after)
            written = sum(
                1
                for key, run in after.runs.items()
                if run.result is not None
                and (key not in state.runs or state.runs[key].result is None)
            )
    except LockError as exc:
        # Only who holds it: the lock error's advice (--lock-timeout) is for writing commands.
        who = getattr(exc, "who", None)
        return Recorded(0, skipped_because=f"the state is locked: {who}" if who else str(exc))
    return Recorded(written)


def unread(runs: dict[str, TrackedRun], reason: str) -> Refresh:
    """A refresh that sends nothing: recorded final results from state, and every run that
    would have needed reading marked with ``reason`` ("not read: SPLX_API_KEY is not set")."""
    return Refresh(
        {
            key: Observation(key, run, None, "none", error=reason)
            if needs_read(run)
            else Observation(key, run, run.result, "state")
            for key, run in runs.items()
        }
    )
