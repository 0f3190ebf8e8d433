"""The wait loop over an in-process StatusApi on a simulated clock (no real sleeping).

End-to-end behaviour (the real client, the simulator, the CLI) is in tests/e2e/test_wait_e2e.py.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.errors import AuthenticationError, RateLimitedError, ServerError
from reconciler.reading.wait import MAX_SLOWDOWN, StatusChange, Waiter, WaitOptions
from reconciler.results.model import RunResult
from reconciler.state import LocalStateStore
from reconciler.state.model import State, TrackedRun
from tests.factories import attrs, result_of, tracked


class Clock:
    """Simulated monotonic time: ``sleep`` advances it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


Answer = RunResult | Exception | None


class Script:
    """Each run's answer as a function of simulated time; every read is logged with its time."""

    def __init__(self, clock: Clock, answers: dict[int, Callable[[float], Answer]]) -> None:
        self.clock = clock
        self.answers = answers
        self.reads: list[tuple[int, float]] = []
        self._lock = threading.Lock()

    def get_status(
        self, workspace_id: int, test_run_id: int, *, key: str, seen_at: str
    ) -> RunResult | None:
        with self._lock:
            self.reads.append((test_run_id, self.clock.now))
        answer = self.answers[test_run_id](self.clock.now)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def times(self, run_id: int) -> list[float]:
        return [at for rid, at in self.reads if rid == run_id]


def ends_at(run_id: int, at: float, *, failed: int = 0) -> Callable[[float], Answer]:
    def answer(now: float) -> Answer:
        if now >= at:
            return result_of(run_id, failed=failed)
        return result_of(run_id, status="Running")

    return answer


def runs(*ids: int) -> dict[str, TrackedRun]:
    return {f"run-{i}": tracked(attrs(target_id=i), i) for i in ids}


def waiter(
    script: Script, clock: Clock, tracked_runs: dict[str, TrackedRun], **kw: object
) -> Waiter:
    options = kw.pop("options", WaitOptions(timeout=3600, interval=30, jitter=0.2))
    return Waiter(
        script,
        tracked_runs,
        options=options,  # type: ignore[arg-type]
        clock=clock,
        sleep=clock.sleep,
        random=lambda: 0.5,
        **kw,  # type: ignore[arg-type]
    )


def test_polls_until_every_run_ends_and_never_reads_an_ended_run_again() -> None:
    clock = Clock()
    script = Script(clock, {1: ends_at(1, 100), 2: ends_at(2, 400), 3: ends_at(3, 0)})
    outcome = waiter(script, clock, runs(1, 2, 3)).run()
    assert not outcome.timed_out and not outcome.interrupted
    assert all(o.ended for o in outcome.observations.values())
    # Run 3 had ended at the first read: one read. Each read is >= interval after the last.
    assert script.times(3) == [0.0]
    for run_id in (1, 2):
        times = script.times(run_id)
        assert all(b - a >= 30 for a, b in itertools.pairwise(times))
        assert all(b - a <= 30 * 1.2 + 1e-9 for a, b in itertools.pairwise(times))
    # Run 1 ended at t=100: the read that saw it is its last.
    assert script.times(1)[-1] >= 100 and script.times(1)[-2] < 100
    assert outcome.waited >= 400 and outcome.waited < 400 + 36 + 1e-9


def test_runs_with_a_recorded_result_cost_no_request() -> None:
    clock = Clock()
    done = tracked(attrs(), 9).model_copy(update={"result": result_of(9, failed=2)})
    script = Script(clock, {})
    outcome = waiter(script, clock, {"done": done}).run()
    assert script.reads == [] and outcome.refresh.requests == 0
    assert outcome.observations["done"].source == "state"


def test_a_timeout_stops_the_wait_with_runs_still_going() -> None:
    clock = Clock()
    script = Script(clock, {1: ends_at(1, 10_000), 2: ends_at(2, 50)})
    outcome = waiter(script, clock, runs(1, 2), options=WaitOptions(timeout=300, interval=30)).run()
    assert outcome.timed_out
    assert not outcome.observations["run-1"].ended
    assert outcome.observations["run-2"].ended
    assert clock.now == pytest.approx(300)  # it sleeps to the deadline, not past it


def test_a_rate_limit_slows_every_run_down_and_recovers() -> None:
    clock = Clock()
    limited_until = 100.0

    def answer(now: float) -> Answer:
        if now < limited_until:
            return RateLimitedError("status of 'run-1': the API is rate limiting requests")
        return result_of(1, status="Running") if now < 1000 else result_of(1)

    script = Script(clock, {1: answer, 2: ends_at(2, 1000)})
    options = WaitOptions(timeout=3600, interval=10, jitter=0)
    outcome = waiter(script, clock, runs(1, 2), options=options).run()
    limited = script.times(1)
    assert limited[1] - limited[0] < limited[2] - limited[1]  # the limited read backs off
    # The run that was never limited is slowed down too while 429s come ...
    other = script.times(2)
    gaps = [b - a for a, b in itertools.pairwise(other)]
    assert gaps[0] > 10
    # ... and once answers come back the interval returns to 10 s.
    assert gaps[-1] == pytest.approx(10)
    assert all(o.ended for o in outcome.observations.values())


def test_an_endpoint_that_starts_failing_is_read_with_backoff_until_the_timeout() -> None:
    clock = Clock()

    def answer(now: float) -> Answer:
        if now < 60:
            return result_of(1, status="Running", failed=1)
        return ServerError("status of 'run-1' (run 1): the API failed (HTTP 503)")

    script = Script(clock, {1: answer, 2: ends_at(2, 0)})
    options = WaitOptions(timeout=3600, interval=10, jitter=0, max_backoff=300)
    outcome = waiter(script, clock, runs(1, 2), options=options).run()
    assert outcome.timed_out
    failing = outcome.observations["run-1"]
    assert failing.error is not None and "503" in failing.error
    # The last good result is kept beside the error.
    assert failing.result is not None and failing.result.status == "Running"
    times = [t for t in script.times(1) if t >= 60]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[:4] == [20, 40, 80, 160]
    assert max(gaps) == 300  # capped, and still reading at the end
    assert times[-1] > 3600 - 300 - 1e-9
    # Without backoff an hour at 10 s would be 360 reads; with it, a few dozen.
    assert len(times) < 20


def test_status_changes_are_reported_once_each() -> None:
    clock = Clock()

    def answer(now: float) -> Answer:
        if now < 30:
            return result_of(1, status="Pending")
        return result_of(1, status="RUNNING") if now < 90 else result_of(1)

    changes: list[StatusChange] = []
    script = Script(clock, {1: answer})
    waiter(script, clock, runs(1), on_change=changes.append).run()
    assert [(c.before, c.after) for c in changes] == [
        (None, "Pending"),
        ("Pending", "Running"),
        ("Running", "Finished"),
    ]


def test_a_gone_run_is_not_read_again() -> None:
    clock = Clock()
    script = Script(clock, {1: lambda now: None, 2: ends_at(2, 100)})
    outcome = waiter(script, clock, runs(1, 2)).run()
    assert script.times(1) == [0.0]
    assert outcome.observations["run-1"].gone


def _store(tmp_path: Path, tracked_runs: dict[str, TrackedRun]) -> LocalStateStore:
    store = LocalStateStore(tmp_path / "state.json")
    with store.lock("setup"):
        store.recover()
        store.persist(State(lineage="l", runs=tracked_runs))
    return store


def test_results_are_recorded_as_runs_end(tmp_path: Path) -> None:
    clock = Clock()
    store = _store(tmp_path, runs(1, 2))
    seen_at_end_of_round: list[bool] = []

    def check(_progress: object) -> None:
        recorded = store.read().runs["run-1"].result
        seen_at_end_of_round.append(recorded is not None)

    script = Script(clock, {1: ends_at(1, 0, failed=3), 2: ends_at(2, 200)})
    waiter(script, clock, runs(1, 2), store=store, on_round=check).run()
    # Run 1 ended in the first round and was in state right after it, long before run 2.
    assert seen_at_end_of_round[0] is True
    final = store.read()
    assert final.runs["run-1"].result is not None
    assert final.runs["run-1"].result.counts.failed == 3
    assert final.runs["run-2"].result is not None


def test_a_held_lock_delays_recording_to_a_later_round(tmp_path: Path) -> None:
    clock = Clock()
    store = _store(tmp_path, runs(1, 2))
    held = store.lock("apply", timeout=0)
    held.__enter__()
    rounds = 0

    def release_after_two(_progress: object) -> None:
        nonlocal rounds
        rounds += 1
        if rounds == 2:
            held.__exit__(None, None, None)

    script = Script(clock, {1: ends_at(1, 0), 2: ends_at(2, 100)})
    outcome = waiter(script, clock, runs(1, 2), store=store, on_round=release_after_two).run()
    assert outcome.unrecorded == 0
    assert store.read().runs["run-1"].result is not None


def test_results_learned_before_a_ctrl_c_are_recorded(tmp_path: Path) -> None:
    clock = Clock()
    store = _store(tmp_path, runs(1, 2))
    script = Script(clock, {1: ends_at(1, 0), 2: ends_at(2, 10_000)})

    # Another command holds the lock during the rounds and lets go just before the Ctrl-C:
    # the result is recorded by the flush on the way out.
    held = store.lock("apply", timeout=0)
    held.__enter__()

    def interrupting_sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if clock.now > 100:
            assert store.read().runs["run-1"].result is None
            held.__exit__(None, None, None)
            raise KeyboardInterrupt

    w = Waiter(
        script,
        runs(1, 2),
        options=WaitOptions(timeout=3600, interval=30),
        store=store,
        clock=clock,
        sleep=interrupting_sleep,
    )
    outcome = w.run()
    assert outcome.interrupted
    assert store.read().runs["run-1"].result is not None
    assert store.read().runs["run-2"].result is None


def test_a_fatal_error_ends_the_wait_after_recording_what_it_learned(tmp_path: Path) -> None:
    clock = Clock()
    store = _store(tmp_path, runs(1, 2))

    def revoked(now: float) -> Answer:
        return result_of(2, status="Running") if now < 50 else AuthenticationError("rejected")

    script = Script(clock, {1: ends_at(1, 0), 2: revoked})
    with pytest.raises(AuthenticationError):
        waiter(script, clock, runs(1, 2), store=store).run()
    assert store.read().runs["run-1"].result is not None


def test_progress_counts_runs_and_test_cases() -> None:
    clock = Clock()
    script = Script(clock, {1: ends_at(1, 0, failed=2), 2: ends_at(2, 100)})
    seen = []
    waiter(script, clock, runs(1, 2), on_round=seen.append).run()
    first, last = seen[0], seen[-1]
    assert (first.total, first.ended) == (2, 1)
    assert (last.total, last.ended, last.cases_done, last.cases_total) == (2, 2, 20, 20)
    assert last.requests == len(script.reads)


@pytest.mark.parametrize(
    "bad", [{"interval": 0}, {"timeout": -1}, {"parallelism": 0}, {"jitter": 2}]
)
def test_options_are_checked(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        WaitOptions(**bad)  # type: ignore[arg-type]


def test_a_long_rate_limit_never_stretches_reads_beyond_the_slowdown_cap() -> None:
    # Found by the e2e test: per-run backoff and the slowdown compounded into minutes.
    clock = Clock()

    def answer(now: float) -> Answer:
        if now < 2000:
            return RateLimitedError("status of 'run-1': the API is rate limiting requests")
        return result_of(1)

    script = Script(clock, {1: answer})
    options = WaitOptions(timeout=3600, interval=10, jitter=0)
    outcome = waiter(script, clock, runs(1), options=options).run()
    times = script.times(1)
    assert max(b - a for a, b in itertools.pairwise(times)) <= 10 * MAX_SLOWDOWN
    assert outcome.observations["run-1"].ended
    assert times[-1] - 2000 <= 10 * MAX_SLOWDOWN  # seen soon after the limit lifted
