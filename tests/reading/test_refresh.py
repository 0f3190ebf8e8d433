"""The refresh core and the result set built from it, over an in-process StatusApi.

(End-to-end behaviour against the simulator is tested with the commands that use it.)
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable

import pytest

from reconciler.errors import AuthenticationError, ServerError, UsageError
from reconciler.reading.refresh import observable, record_results, refresh, result_records
from reconciler.results.gate import Gate, Outcome
from reconciler.results.links import resolve_platform_url, run_url
from reconciler.results.model import RunResult
from reconciler.results.summary import build_results
from reconciler.state import LocalStateStore
from reconciler.state.model import State, fold
from tests.factories import attrs, result_of, tracked


class Statuses:
    """Answers per run id: a RunResult, None (404) or an exception to raise."""

    def __init__(self, answers: dict[int, RunResult | Exception | None]) -> None:
        self.answers = answers
        self.asked: list[int] = []
        self._lock = threading.Lock()

    def get_status(
        self, workspace_id: int, test_run_id: int, *, key: str, seen_at: str
    ) -> RunResult | None:
        with self._lock:
            self.asked.append(test_run_id)
        answer = self.answers[test_run_id]
        if isinstance(answer, Exception):
            raise answer
        return answer


def _state() -> State:
    ended = tracked(attrs(target_id=1), 1).model_copy(update={"result": result_of(1)})
    return State(
        lineage="l",
        serial=1,
        runs={
            "ended": ended,
            "running": tracked(attrs(target_id=2), 2),
            "finishing": tracked(attrs(target_id=3), 3),
            "gone": tracked(attrs(target_id=4), 4),
            "broken": tracked(attrs(target_id=5), 5),
            "unknown": tracked(attrs(target_id=6), status="unknown"),
        },
    )


def _api() -> Statuses:
    return Statuses(
        {
            2: result_of(2, status="RUNNING"),
            3: result_of(3, status="FINISHED", failed=2),
            4: None,
            5: ServerError("status of 'broken' (run 5): the API failed"),
        }
    )


def test_only_runs_not_ended_are_read_and_failures_stay_per_run() -> None:
    api = _api()
    outcome = refresh(api, observable(_state()), parallelism=3)
    assert sorted(api.asked) == [2, 3, 4, 5]
    assert outcome.requests == 4
    assert list(outcome.observations) == ["broken", "ended", "finishing", "gone", "running"]
    assert outcome.observations["ended"].source == "state"
    assert [o.key for o in outcome.gone] == ["gone"]
    assert [o.key for o in outcome.unreadable] == ["broken"]
    assert [(r.key, r.test_run_id) for r in result_records(outcome)] == [("finishing", 3)]


def test_a_fatal_error_ends_the_refresh() -> None:
    api = Statuses({2: AuthenticationError("rejected"), 3: result_of(3)})
    runs = observable(State(lineage="l", runs={"a": tracked(attrs(), 2), "b": tracked(attrs(), 3)}))
    with pytest.raises(AuthenticationError):
        refresh(api, runs, parallelism=1)


def test_everything_ended_costs_no_request() -> None:
    state = _state()
    api = Statuses({})
    outcome = refresh(api, observable(state, ["ended"]))
    assert api.asked == [] and outcome.requests == 0


def test_results_are_recorded_when_the_lock_is_free(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = LocalStateStore(tmp_path / "s.json")
    with store.lock("setup"):
        store.recover()
        store.persist(_state())
    outcome = refresh(_api(), observable(store.read()))
    assert record_results(store, result_records(outcome), operation="status").count == 1
    recorded = store.read().runs["finishing"].result
    assert recorded is not None and recorded.status == "Finished"
    with store.lock("apply"):
        skipped = record_results(store, result_records(outcome), operation="status")
    assert skipped.count == 0 and skipped.skipped_because is not None
    # Who holds it, not the writing commands' advice (status and wait take no --lock-timeout).
    assert "'apply'" in skipped.skipped_because and "--lock-timeout" not in skipped.skipped_because


def test_the_result_set_gives_verdicts_links_and_exit_codes() -> None:
    state = _state()
    outcome = refresh(_api(), observable(state))
    results = build_results(
        outcome, {"finishing": Gate(max_failed=0)}, platform="https://p", read_at="now"
    )
    rows = {row.key: row for row in results.rows}
    assert rows["finishing"].verdict.reasons == ("2 failed test cases, at most 0 allowed",)
    assert rows["ended"].verdict.outcome is Outcome.PASSED
    assert rows["running"].verdict.outcome is Outcome.PENDING
    assert rows["gone"].verdict.failed and rows["gone"].status == "Gone"
    assert rows["broken"].status == "Unreadable"
    assert rows["ended"].url == "https://p/w/1234/target/1/test-runs/1"
    assert results.exit_code() == 3
    assert [r.key for r in results.not_ended_first()][-1] == "finishing"
    assert [r.key for r in results.failing_first()][:2] == ["finishing", "gone"]


def test_a_wait_with_runs_still_going_and_none_failed_exits_4() -> None:
    state = State(lineage="l", runs={"a": tracked(attrs(), 2), "b": tracked(attrs(), 3)})
    api = Statuses({2: result_of(2, status="Running"), 3: result_of(3)})
    results = build_results(refresh(api, observable(state)), {}, platform="p", read_at="t")
    assert results.exit_code(waiting=True) == 4
    assert results.exit_code() == 0


def test_platform_url_precedence() -> None:
    env = {"SPLX_PLATFORM_URL": "https://env.example/"}
    assert resolve_platform_url("https://flag.example", env) == "https://flag.example"
    assert resolve_platform_url(None, env, configured="https://c") == "https://env.example"
    assert resolve_platform_url(None, {}, configured="https://c/") == "https://c"
    assert resolve_platform_url(None, {}, region="us") == "https://us.probe.splx.ai"
    assert resolve_platform_url(None, {}) == "https://probe.splx.ai"
    assert (
        run_url("https://probe.splx.ai", 1, 2, 3)
        == "https://probe.splx.ai/w/1/target/2/test-runs/3"
    )
    with pytest.raises(UsageError, match="--platform-url"):
        resolve_platform_url("ftp://x", {})


def test_fold_of_refresh_records_is_what_state_keeps() -> None:
    state = _state()
    after = fold(state, result_records(refresh(_api(), observable(state))))
    assert after.runs["finishing"].ended and not after.runs["running"].ended


def _main_thread_in(function: str, module_path: str) -> bool:
    """True while the main thread's stack holds ``function`` of the module at ``module_path``."""
    frame = sys._current_frames().get(threading.main_thread().ident or 0)
    while frame is not None:
        code = frame.f_code
        if code.co_name == function and code.co_filename.endswith(module_path):
            return True
        frame = frame.f_back
    return False


def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not condition() and time.monotonic() < deadline:
        # Not faster: two threads polling the main thread's stack every millisecond starved
        # it on a loaded machine.
        time.sleep(0.01)


def test_an_interrupt_stops_the_reads_not_started() -> None:
    """Ctrl-C while reading 50 runs two at a time: the two reads in flight finish, the 48
    queued ones are never sent. The steps are observed on the main thread's stack, not timed:
    the interrupt comes once every read is queued (the main thread waits on them), and the
    reads in flight return once it joins the workers (the interrupt has been handled)."""
    asked: list[int] = []

    class Interrupting:
        def get_status(
            self, workspace_id: int, test_run_id: int, *, key: str, seen_at: str
        ) -> RunResult | None:
            asked.append(test_run_id)
            if len(asked) == 1:
                _until(lambda: _main_thread_in("wait", "concurrent/futures/_base.py"))
                # As Ctrl-C would, aimed at the main thread: a signal sent to the process may
                # be taken by a worker thread, and then the main thread's wait is not
                # interrupted until a read finishes (seen on a loaded machine).
                signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
            _until(lambda: _main_thread_in("join", "threading.py"))
            return None

    runs = {f"k{i:02d}": tracked(attrs(), 100 + i) for i in range(50)}
    with pytest.raises(KeyboardInterrupt):
        refresh(Interrupting(), runs, parallelism=2)
    assert len(asked) <= 2
