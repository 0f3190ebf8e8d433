"""Options of apply that shape how it talks to the API, and warnings around the state lock."""

from __future__ import annotations

import pytest

from reconciler.simulator.server import SimulatorServer
from tests.e2e.conftest import SPEC_TWO_RUNS, Cli, Runner, api_requests


def _cancels(sim: SimulatorServer) -> int:
    return sum(1 for r in api_requests(sim) if r.path.endswith("/cancel"))


def test_max_attempts_and_retry_max_delay_bound_the_retries_of_a_cancel(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    assert run("apply", "--auto-approve").code == 0
    cli.write_spec("runs.yaml", "workspaceId: 1234\ntestRuns: {}\n")
    sim.set_faults(error_rate=1.0)  # every request answers 500

    once = run("apply", "--auto-approve", "--allow-empty", "--max-attempts", "1")
    assert once.code == 1
    assert _cancels(sim) == 2  # one attempt for each of the two runs

    twice = run(
        "apply",
        "--auto-approve",
        "--allow-empty",
        "--max-attempts",
        "2",
        "--retry-max-delay",
        "10ms",
    )
    assert twice.code == 1
    assert _cancels(sim) == 2 + 4
    assert len(cli.state()["runs"]) == 2  # still tracked: the next apply cancels again


def test_request_timeout_turns_a_slow_trigger_into_an_unknown_outcome(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    sim.set_faults(latency=1.0)
    result = run("apply", "--auto-approve", "--request-timeout", "200ms")
    assert result.code == 1
    runs = cli.state()["runs"]
    assert {entry["status"] for entry in runs.values()} == {"unknown"}
    assert len(sim.requests()) >= 2  # they were sent: never re-sent, never forgotten


def test_invalid_durations_are_usage_errors(cli: Cli, run: Runner) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    result = run("apply", "--auto-approve", "--request-timeout", "soon")
    assert result.code == 1
    assert "invalid duration 'soon'" in result.err


def test_conflicting_api_settings_fail_before_the_plan_is_printed(cli: Cli, run: Runner) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    result = run("apply", "--auto-approve", "--region", "us", "--api-url", "http://127.0.0.1:1")
    assert result.code == 1
    assert "--region" in result.err
    assert "will perform" not in result.out
    assert not cli.state_path.exists()


def test_plan_warns_when_another_command_holds_the_lock(cli: Cli, run: Runner) -> None:
    from reconciler.state.local import LocalStateStore

    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    store = LocalStateStore(cli.state_path)
    with store.lock("apply"):
        result = run("plan")
    assert result.code == 0, result.all
    assert "the state is locked by" in result.err
    assert "for 'apply'" in result.err


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("90", 90.0),
        ("1.5h", 5400.0),
        ("1d", 86400.0),
        ("1h30m", 5400.0),
        ("2d12h", 216000.0),
    ],
)
def test_option_durations_take_every_spelling_the_specs_take_too(text: str, seconds: float) -> None:
    from reconciler.commands.common import parse_duration

    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "1.5d2h", "-5s", "1h 30m", ""])
def test_option_durations_refuse_the_rest_with_the_spellings(text: str) -> None:
    from reconciler.commands.common import parse_duration
    from reconciler.errors import UsageError

    with pytest.raises(UsageError, match="1h30m or 1d"):
        parse_duration(text)


def test_a_bad_or_huge_wait_duration_names_its_option(run: Runner) -> None:
    bad = run("wait", "--timeout", "-5s")
    assert bad.code == 1
    assert "--timeout: invalid duration '-5s'" in bad.err
    huge = run("wait", "--interval", "999999999999d", "--timeout", "1h")
    assert huge.code == 1
    assert "--interval: '999999999999d' is longer than a year" in huge.err
    assert "Traceback" not in huge.err and "Internal error" not in huge.err
