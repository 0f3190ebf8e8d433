"""Waiting for runs to end: a polling loop over ``refresh``, with time injected.

The loop works in rounds. A round reads, in parallel, every selected run that is due; a run
that has ended (or is gone) is never read again, so a wait over 1,000 runs costs fewer
requests each round as they finish. Between two reads of one run there are at least
``interval`` seconds, stretched by a random ``jitter`` picked once per round: runs of one
round stay together (one parallel batch, not a trickle of small ones), and two pipelines that
started at once drift apart instead of polling in lockstep.

Slowing down:

- a 429 (``RateLimitedError``, after the client's own retries) doubles the interval of every
  run, up to ``MAX_SLOWDOWN`` times; each round without one halves it again;
- a run whose read fails otherwise (5xx, timeouts) backs off on its own, doubling up to
  ``max_backoff`` (32 intervals, at most 5 minutes), and keeps being read until the timeout:
  the endpoint may come back. Its last good result is kept, with the error beside it (a
  rate-limited read too);
- 401 and 403 are fatal, as in ``refresh``: every read would fail the same way.

Final results are recorded in state (``record_results``) at the end of each round in which
runs ended, when the lock is free; if another command holds it, they are kept and tried again
next round and once more when the wait ends, however it ends (timeout, Ctrl-C, a fatal
error). A kill loses at most the round in flight: the runs it would have recorded are read
again by the next command, and nothing is ever triggered.

``clock`` and ``sleep`` are injected, so tests and benchmarks wait two simulated hours in a
fraction of a second; the loop keeps only the latest observation per run, so its memory does
not grow with the length of the wait.
"""

from __future__ import annotations

import random as _random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from reconciler.errors import RateLimitedError
from reconciler.reading.refresh import record_results, refresh
from reconciler.results.observation import Observation, Refresh
from reconciler.state.model import JournalRecord, TrackedRun, utc_now

if TYPE_CHECKING:
    from reconciler.api.base import StatusApi
    from reconciler.results.model import RunResult
    from reconciler.state.store import StateStore

#: The most a run of 429s stretches the interval.
MAX_SLOWDOWN: Final = 16.0


@dataclass(frozen=True)
class WaitOptions:
    """How long to wait and how often to look."""

    #: Seconds before giving up on runs still going.
    timeout: float = 7200.0
    #: The least time between two reads of one run, in seconds.
    interval: float = 30.0
    parallelism: int = 10
    #: Up to this fraction of ``interval`` is added at random each round.
    jitter: float = 0.2
    #: The longest wait between two reads of a run whose reads fail; default 32 intervals,
    #: at most 5 minutes (and never less than one interval).
    max_backoff: float | None = None

    def __post_init__(self) -> None:
        if self.timeout < 0 or self.interval <= 0:
            raise ValueError("the timeout must not be negative and the interval must be positive")
        if self.parallelism < 1:
            raise ValueError(f"parallelism must be at least 1, not {self.parallelism}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be between 0 and 1, not {self.jitter}")

    @property
    def backoff_cap(self) -> float:
        if self.max_backoff is not None:
            return self.max_backoff
        return max(self.interval, min(self.interval * 32, 300.0))


@dataclass(frozen=True)
class StatusChange:
    """A run's status as read differs from what was known before (``before`` None: first
    read). Gone runs change to ``Gone``; a failed read is not a change."""

    key: str
    before: str | None
    after: str
    observation: Observation


@dataclass(frozen=True)
class WaitProgress:
    """Where a wait stands, for progress displays."""

    total: int
    ended: int
    #: Test cases passed, failed or errored so far, over every selected run's latest result.
    cases_done: int
    cases_total: int
    waited: float
    rounds: int
    requests: int
    unreadable: int


@dataclass
class WaitOutcome:
    """The end of a wait: the latest observation of every run, and how it ended."""

    refresh: Refresh
    timed_out: bool = False
    interrupted: bool = False
    rounds: int = 0
    waited: float = 0.0
    #: Results learned but not recorded (the lock stayed held); the next command records them.
    unrecorded: int = 0
    #: Why they were not recorded.
    not_recorded_because: str | None = None

    @property
    def observations(self) -> dict[str, Observation]:
        return self.refresh.observations


@dataclass
class _RunClock:
    """When a run is read next, and how many reads of it failed in a row."""

    due: float
    failures: int = 0


@dataclass
class _RateLimitWatch:
    """Wraps a ``StatusApi`` to note which reads ran into a 429 (``refresh`` keeps only the
    message of a non-fatal error, and the loop needs to know it was a rate limit)."""

    api: StatusApi
    limited: set[str] = field(default_factory=set)

    def get_status(
        self, workspace_id: int, test_run_id: int, *, key: str, seen_at: str
    ) -> RunResult | None:
        try:
            return self.api.get_status(workspace_id, test_run_id, key=key, seen_at=seen_at)
        except RateLimitedError:
            self.limited.add(key)  # one worker per key: no lock needed for distinct adds
            raise


class Waiter:
    """One wait over ``runs`` (tracked runs by key; those with a recorded result are done).

    ``store``: where final results are recorded as runs end (None: not recorded, for tests
    of the loop alone). ``on_change`` and ``on_round`` are called from the calling thread.
    """

    def __init__(
        self,
        api: StatusApi,
        runs: Mapping[str, TrackedRun],
        *,
        options: WaitOptions | None = None,
        store: StateStore | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = _random.random,
        now: Callable[[], str] = utc_now,
        on_change: Callable[[StatusChange], None] | None = None,
        on_round: Callable[[WaitProgress], None] | None = None,
    ) -> None:
        self._api = _RateLimitWatch(api)
        self._runs = dict(sorted(runs.items()))
        self.options = options or WaitOptions()
        self._store = store
        self._clock = clock
        self._sleep = sleep
        self._random = random
        self._now = now
        self._on_change = on_change
        self._on_round = on_round
        self._observations: dict[str, Observation] = {}
        self._clocks: dict[str, _RunClock] = {}
        self._slowdown = 1.0
        self._unrecorded: dict[str, JournalRecord] = {}
        self._last_skip: str | None = None
        self._requests = 0
        self._rounds = 0
        self._started = 0.0

    def run(self) -> WaitOutcome:
        """Poll until every run has ended, the timeout passes, or Ctrl-C; results recorded."""
        self._started = start = self._clock()
        deadline = start + self.options.timeout
        for key, run in self._runs.items():
            if run.result is not None:
                self._observations[key] = Observation(key, run, run.result, "state")
            else:
                self._observations[key] = Observation(key, run, None, "none")
                self._clocks[key] = _RunClock(due=start)
        outcome = WaitOutcome(Refresh())
        try:
            while self._clocks:
                now = self._clock()
                ready = [key for key, at in self._clocks.items() if at.due <= now]
                if ready:
                    self._round(ready)
                    self._record()
                    if self._on_round is not None:
                        self._on_round(self.progress())
                if not self._clocks:
                    break
                now = self._clock()
                if now >= deadline:
                    outcome.timed_out = True
                    break
                wake = min(deadline, *(c.due for c in self._clocks.values()))
                self._sleep(max(0.0, wake - now))
        except KeyboardInterrupt:
            outcome.interrupted = True
        finally:
            # However the wait ends (even by a fatal API error), what it learned is kept.
            self._record()
        outcome.refresh = Refresh(dict(sorted(self._observations.items())), self._requests)
        outcome.rounds = self._rounds
        outcome.waited = self._clock() - start
        outcome.unrecorded = len(self._unrecorded)
        outcome.not_recorded_because = self._last_skip if self._unrecorded else None
        return outcome

    def progress(self) -> WaitProgress:
        done = total = ended = unreadable = 0
        for observation in self._observations.values():
            if observation.error is not None:
                unreadable += 1
            if observation.ended or observation.gone:
                ended += 1
            if observation.result is not None:
                counts = observation.result.counts
                done += counts.passed + counts.failed + counts.errored
                total += counts.total
        return WaitProgress(
            total=len(self._observations),
            ended=ended,
            cases_done=done,
            cases_total=total,
            waited=self._clock() - self._started,
            rounds=self._rounds,
            requests=self._requests,
            unreadable=unreadable,
        )

    # -- one round ------------------------------------------------------------------------

    def _round(self, keys: list[str]) -> None:
        self._rounds += 1
        self._api.limited.clear()
        read = refresh(
            self._api,
            {key: self._runs[key] for key in keys},
            parallelism=self.options.parallelism,
            now=self._now,
        )
        self._requests += read.requests
        if self._api.limited:
            self._slowdown = min(self._slowdown * 2.0, MAX_SLOWDOWN)
        else:
            self._slowdown = max(1.0, self._slowdown / 2.0)
        end = self._clock()
        stretch = 1.0 + self.options.jitter * self._random()
        for key in keys:
            self._observe(read.observations[key], end, stretch)

    def _observe(self, observation: Observation, end: float, stretch: float) -> None:
        key = observation.key
        before = self._observations[key]
        clock = self._clocks[key]
        if observation.error is not None:
            # Keep what was known; the error says why it is not fresher.
            self._observations[key] = Observation(
                key,
                observation.run,
                before.result,
                before.source,
                error=observation.error,
            )
            if key in self._api.limited:
                # A 429 is about the whole client, not this run: the slowdown covers it, and
                # counting it here too would compound the two into minutes between reads.
                clock.due = end + self.options.interval * self._slowdown * stretch
                return
            clock.failures += 1
            step = self.options.interval * self._slowdown * 2.0**clock.failures
            clock.due = end + min(step, self.options.backoff_cap) * stretch
            return
        self._observations[key] = observation
        after = _status_word(observation)
        previous = before.result.status if before.result is not None else None
        if after is not None and after != previous and self._on_change is not None:
            self._on_change(StatusChange(key, previous, after, observation))
        if observation.ended or observation.gone:
            del self._clocks[key]  # an ended run never changes: never read again
            if observation.newly_ended:
                self._unrecorded[key] = JournalRecord(
                    op="result",
                    key=key,
                    test_run_id=observation.test_run_id,
                    result=observation.result,
                )
            return
        clock.failures = 0
        clock.due = end + self.options.interval * self._slowdown * stretch

    def _record(self) -> None:
        if self._store is None or not self._unrecorded:
            return
        recorded = record_results(self._store, list(self._unrecorded.values()), operation="wait")
        if recorded.skipped_because is None:
            self._unrecorded.clear()
            self._last_skip = None
        else:
            self._last_skip = recorded.skipped_because


def _status_word(observation: Observation) -> str | None:
    if observation.gone:
        return "Gone"
    return observation.result.status if observation.result is not None else None
