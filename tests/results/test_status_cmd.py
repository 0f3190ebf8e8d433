"""``reconciler status`` as a command function, over a scripted HTTP transport.

The API client is the real ``ProbeClient``; only its transport is scripted (per run id), so
these tests exercise parsing, retries and error mapping as the CLI does. The simulator's own
status endpoint is tested end to end in tests/e2e/test_status.py.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from reconciler.commands.common import Settings
from reconciler.commands.results import StatusOptions, status
from reconciler.errors import AuthenticationError, PermissionDeniedError, UsageError
from reconciler.state import LocalStateStore
from reconciler.state.codec import encode_state
from reconciler.state.model import State, TrackedRun
from tests.factories import attrs, result_of, tracked
from tests.results.scripted import (
    API_KEY,
    PLATFORM,
    Answer,
    ScriptedSession,
    StatusServer,
    ok,
    status_doc,
)


def run_of(target: int, run_id: int, **result: Any) -> TrackedRun:
    entry = tracked(attrs(target_id=target, name=f"run {run_id}"), run_id)
    if result:
        return entry.model_copy(update={"result": result_of(run_id, **result)})
    return entry


def write_state(path: Path, runs: dict[str, TrackedRun]) -> None:
    path.write_bytes(encode_state(State(lineage="lineage-1", serial=3, runs=runs)))


Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def state_path(tmp_path: Path) -> Path:
    return tmp_path / "state.json"


@pytest.fixture
def run_status(
    tmp_path: Path,
    state_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Run:
    """``run_status(server, *targets, fmt=..., key=...)`` → (exit code, stdout, stderr)."""

    def invoke(
        server: StatusServer, *targets: str, fmt: str = "text", key: str | None = API_KEY
    ) -> tuple[int, str, str]:
        env = {"NO_COLOR": "1", "SPLX_PLATFORM_URL": PLATFORM}
        if key is not None:
            env["SPLX_API_KEY"] = key
        settings = Settings(state=str(state_path), env=env)
        capsys.readouterr()
        # No spec files in tmp_path: every run gets the default gate. The scripted server
        # answers status only: findings are tested against the simulator (tests/e2e).
        options = StatusOptions(paths=(), targets=targets, fmt=fmt, parallelism=4, findings=False)
        monkeypatch.chdir(tmp_path)
        with ScriptedSession(settings, server) as session:
            code = status(session, options)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return invoke


def stored(state_path: Path) -> State:
    return LocalStateStore(state_path).read()


def schema() -> dict[str, Any]:
    text = resources.files("reconciler").joinpath("schemas/status.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


# --- what is read, what is shown, what is recorded -------------------------------------------


@pytest.mark.parametrize("spelling", ["Finished", "FINISHED", "finished"])
def test_ended_runs_come_from_state_and_newly_ended_ones_are_recorded(
    run_status: Run, state_path: Path, spelling: str
) -> None:
    write_state(
        state_path,
        {
            "done": run_of(1, 11, failed=1),
            "going": run_of(2, 12),
            "finishing": run_of(3, 13),
        },
    )
    server = StatusServer(
        {12: [ok(status_doc(12, "RUNNING"))], 13: [ok(status_doc(13, spelling, failed=2))]}
    )
    code, out, _ = run_status(server)
    assert code == 0, out
    assert sorted(server.asked) == [12, 13]  # the recorded result costs no request
    lines = out.splitlines()
    # Not ended first, then by key.
    assert lines[0].startswith("going: Running, run 12, 20 passed, 0 failed, 0 errored of 20")
    assert f"  {PLATFORM}/w/1234/target/2/test-runs/12" in lines
    assert "done: Finished, run 11, 9 passed, 1 failed, 0 errored of 10, gate passed" in out
    assert "finishing: Finished, run 13, 18 passed, 2 failed, 0 errored of 20, gate passed" in out
    assert out.rstrip().endswith("3 runs: 2 passed, 0 failed, 1 still going.")
    after = stored(state_path)
    recorded = after.runs["finishing"].result
    assert recorded is not None and recorded.status == "Finished" and recorded.counts.failed == 2
    assert after.runs["going"].result is None  # a running run is not recorded

    # The next status asks only about the run still going.
    server.asked.clear()
    code, out, _ = run_status(server)
    assert server.asked == [12]


def test_a_run_ended_in_error_or_cancelled_fails_the_default_gate_with_exit_3(
    run_status: Run, state_path: Path
) -> None:
    write_state(state_path, {"broken": run_of(1, 21), "fine": run_of(2, 22)})
    server = StatusServer({21: [ok(status_doc(21, "ERROR"))], 22: [ok(status_doc(22, "Finished"))]})
    code, out, _ = run_status(server)
    assert code == 3
    assert "broken: Error, run 21, 20 passed, 0 failed, 0 errored of 20, gate failed" in out
    assert "  - ended in Error" in out
    assert "2 runs: 1 passed, 1 failed, 0 still going." in out


def test_a_status_nobody_knows_is_shown_verbatim_and_never_recorded(
    run_status: Run, state_path: Path
) -> None:
    write_state(state_path, {"odd": run_of(1, 31)})
    before = state_path.read_bytes()
    code, out, _ = run_status(StatusServer({31: [ok(status_doc(31, "Paused"))]}))
    assert code == 0
    assert out.startswith("odd: Paused, run 31,")
    assert "1 still going" in out
    assert state_path.read_bytes() == before


def test_a_run_the_api_has_never_heard_of_is_gone_and_fails(
    run_status: Run, state_path: Path
) -> None:
    write_state(state_path, {"vanished": run_of(1, 41)})
    before = state_path.read_bytes()
    code, out, _ = run_status(StatusServer({41: [httpx.Response(404)]}))
    assert code == 3
    assert out.startswith("vanished: Gone, run 41")
    assert "no longer exists on the platform" in out
    assert "1 gone" in out
    assert state_path.read_bytes() == before  # a 404 is reported, not recorded


# --- faults while reading --------------------------------------------------------------------


MALFORMED = {
    "missing status": {"testRunId": 51, "probeRuns": []},
    "missing probeRuns": {"testRunId": 51, "status": "Finished"},
    "count not a number": {
        **status_doc(51, "Finished"),
        "probeRuns": [{**status_doc(51)["probeRuns"][0], "failedCount": "three"}],
    },
    "negative count": {
        **status_doc(51, "Finished"),
        "probeRuns": [{**status_doc(51)["probeRuns"][0], "totalCount": -1}],
    },
    "another run": status_doc(52, "Finished"),
    "not an object": [1, 2, 3],
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_status_document_names_the_run_and_changes_nothing(
    run_status: Run, state_path: Path, case: str
) -> None:
    write_state(state_path, {"bad": run_of(1, 51), "good": run_of(2, 53, status="Finished")})
    before = state_path.read_bytes()
    code, out, err = run_status(StatusServer({51: [ok(MALFORMED[case])]}))
    assert code == 1
    assert "bad: Unreadable, run 51" in out
    assert "not a test-run status" in out
    assert "Traceback" not in out + err
    assert "could not read 1 run: bad" in err
    assert "good: Finished, run 53" in out  # the rest is still shown
    assert state_path.read_bytes() == before


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(503),
        httpx.Response(500, json={"error": {"message": "database unavailable"}}),
        httpx.ReadTimeout("timed out"),
        httpx.ConnectError("connection refused"),
    ],
    ids=["503", "500", "timeout", "refused"],
)
def test_server_errors_and_timeouts_leave_the_run_unread_with_exit_1(
    run_status: Run, state_path: Path, answer: Answer
) -> None:
    write_state(state_path, {"flaky": run_of(1, 61), "fine": run_of(2, 62)})
    server = StatusServer({61: [answer], 62: [ok(status_doc(62, "Finished"))]})
    code, out, err = run_status(server)
    assert code == 1
    assert server.asked.count(61) == 2  # a read is retried (max_attempts=2 here)
    assert "flaky: Unreadable, run 61" in out
    assert "run 61" in out.split("flaky:")[1].split("\n")[1]  # the reason names the run
    assert "could not read 1 run: flaky" in err
    after = stored(state_path)
    assert after.runs["flaky"].result is None
    assert after.runs["fine"].result is not None  # what was learned is still recorded


def test_a_failed_gate_outranks_an_unreadable_run(run_status: Run, state_path: Path) -> None:
    write_state(state_path, {"flaky": run_of(1, 71), "broken": run_of(2, 72, status="Error")})
    code, _, _ = run_status(StatusServer({71: [httpx.Response(502)]}))
    assert code == 3


@pytest.mark.parametrize(
    ("status_code", "error"), [(401, AuthenticationError), (403, PermissionDeniedError)]
)
def test_401_and_403_end_the_command_and_change_nothing(
    run_status: Run, state_path: Path, status_code: int, error: type[Exception]
) -> None:
    write_state(state_path, {"a": run_of(1, 81), "b": run_of(2, 82)})
    before = state_path.read_bytes()
    server = StatusServer({81: [httpx.Response(status_code)], 82: [httpx.Response(status_code)]})
    with pytest.raises(error) as raised:
        run_status(server)
    assert "run 8" in str(raised.value)
    assert API_KEY not in str(raised.value)
    assert state_path.read_bytes() == before


# --- without a key, with the lock taken, with --target ---------------------------------------


def test_without_a_key_ended_runs_show_and_the_rest_say_not_read(
    run_status: Run, state_path: Path
) -> None:
    write_state(state_path, {"done": run_of(1, 91, status="Finished"), "going": run_of(2, 92)})
    server = StatusServer({})
    code, out, err = run_status(server, key=None)
    assert server.asked == []
    assert code == 1
    assert "going: Unreadable, run 92\n  not read: SPLX_API_KEY is not set" in out
    assert "done: Finished, run 91" in out
    assert "could not be read without SPLX_API_KEY: going" in err


def test_without_a_key_nothing_to_read_is_no_error(run_status: Run, state_path: Path) -> None:
    write_state(state_path, {"done": run_of(1, 93, status="Finished")})
    code, out, err = run_status(StatusServer({}), key=None)
    assert code == 0, err
    assert "1 run: 1 passed, 0 failed, 0 still going." in out


def test_a_held_lock_means_results_are_shown_not_recorded_and_said_so(
    run_status: Run, state_path: Path
) -> None:
    write_state(state_path, {"finishing": run_of(1, 101)})
    before = state_path.read_bytes()
    store = LocalStateStore(state_path)
    with store.lock("apply", timeout=0) as held:
        code, out, err = run_status(StatusServer({101: [ok(status_doc(101, "Finished"))]}))
    assert code == 0
    assert "finishing: Finished, run 101" in out
    warnings = [line for line in err.splitlines() if line.startswith("Warning:")]
    assert len(warnings) == 1
    assert held.id in warnings[0] and "'apply'" in warnings[0]
    assert "not recorded" in warnings[0]
    assert state_path.read_bytes() == before


def test_target_selects_keys_and_an_untracked_one_is_refused(
    run_status: Run, state_path: Path
) -> None:
    write_state(state_path, {"a": run_of(1, 111), "b": run_of(2, 112)})
    server = StatusServer({111: [ok(status_doc(111))], 112: [ok(status_doc(112))]})
    code, out, _ = run_status(server, "b")
    assert code == 0
    assert server.asked == [112]
    assert out.startswith("b: Running") and "a:" not in out
    with pytest.raises(UsageError, match=r"--target nope: no run with that key in state"):
        run_status(server, "nope")


def test_unknown_trigger_outcomes_are_named_not_read(run_status: Run, state_path: Path) -> None:
    write_state(
        state_path,
        {"lost": tracked(attrs(), status="unknown"), "done": run_of(1, 121, status="Finished")},
    )
    code, out, err = run_status(StatusServer({}))
    assert code == 0
    assert "lost" not in out
    assert "unknown trigger outcome and no run id to read: lost" in err


def test_an_empty_state_says_so(run_status: Run) -> None:
    code, out, _ = run_status(StatusServer({}))
    assert code == 0
    assert out == "No tracked runs to show.\n"


# --- JSON ------------------------------------------------------------------------------------


def test_json_output_is_valid_against_the_shipped_schema(run_status: Run, state_path: Path) -> None:
    earlier = result_of(130, failed=1)
    replaced = run_of(1, 131).model_copy(update={"history": (earlier,)})
    write_state(
        state_path,
        {
            "replaced": replaced,
            "broken": run_of(2, 132),
            "gone": run_of(3, 133),
            "done": run_of(4, 134, status="Canceled"),
        },
    )
    server = StatusServer(
        {
            131: [ok(status_doc(131, "FINISHED", failed=3))],
            132: [httpx.Response(500)],
            133: [httpx.Response(404)],
        }
    )
    code, out, _ = run_status(server, fmt="json")
    assert code == 3
    document = json.loads(out)
    jsonschema.validate(document, schema())
    runs = {entry["key"]: entry for entry in document["runs"]}
    assert list(runs) == ["broken", "done", "gone", "replaced"]
    entry = runs["replaced"]
    assert entry["status"] == "Finished" and entry["ended"] is True
    assert entry["counts"] == {"total": 20, "passed": 17, "failed": 3, "errored": 0}
    assert [p["probeId"] for p in entry["probeRuns"]] == [101, 102]
    assert entry["previous"] == {
        "testRunId": 130,
        "status": "Finished",
        "counts": {"total": 10, "passed": 9, "failed": 1, "errored": 0},
    }
    assert entry["url"] == f"{PLATFORM}/w/1234/target/1/test-runs/131"
    assert entry["verdict"] == {"outcome": "passed", "reasons": [], "notes": []}
    assert runs["done"]["verdict"]["reasons"] == ["ended in Canceled"]
    assert runs["gone"]["gone"] is True and runs["gone"]["status"] == "Gone"
    assert runs["broken"]["error"] and runs["broken"]["status"] == "Unreadable"
    assert document["summary"] == {
        "runs": 4,
        "passed": 1,
        "failed": 2,
        "stillGoing": 0,
        "unreadable": 1,
        "gone": 1,
        "requests": 3,
    }


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("terminal", [True, False])
def test_json_is_indented_on_a_terminal_and_compact_in_a_file_or_pipe(
    state_path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, terminal: bool
) -> None:
    # The same document: compact is ~5x faster to write for 10,000 runs (docs/PERFORMANCE.md).
    write_state(state_path, {"done": run_of(1, 11, failed=1)})
    settings = Settings(state=str(state_path), env={"NO_COLOR": "1", "SPLX_API_KEY": API_KEY})
    monkeypatch.chdir(tmp_path)
    stdout = Terminal() if terminal else io.StringIO()
    with ScriptedSession(settings, StatusServer({})) as session:
        session.console.out_stream = stdout
        assert status(session, StatusOptions(fmt="json", findings=False)) == 0
    out = stdout.getvalue()
    jsonschema.validate(json.loads(out), schema())
    if terminal:
        assert out.startswith('{\n  "format_version": "1.1",\n')
    else:
        assert out.startswith('{"format_version":"1.1","read_at":')
        assert out.count("\n") == 1


def test_json_of_an_empty_state_is_a_valid_document(run_status: Run) -> None:
    code, out, _ = run_status(StatusServer({}), fmt="json")
    assert code == 0
    document = json.loads(out)
    jsonschema.validate(document, schema())
    assert document["runs"] == [] and document["summary"]["runs"] == 0
