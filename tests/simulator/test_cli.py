"""``reconciler simulator`` as users run it, and the config checks behind its options."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import httpx
import pytest
from click.testing import CliRunner

from reconciler.api.endpoints import is_loopback
from reconciler.errors import UsageError
from reconciler.simulator.cli import parse_keys, simulator_command
from reconciler.simulator.config import DEMO_KEY, KeyGrant, SimulatorConfig
from reconciler.simulator.export import ExportFault, parse_fault_option
from reconciler.simulator.outcomes import OutcomeError, OutcomeRule, parse_outcome_option
from reconciler.simulator.server import SimulatorServer, bind_socket

from .conftest import BODY, cancel_path, trigger_path


def test_command_serves_until_sigterm() -> None:
    env = {k: v for k, v in os.environ.items() if k != "SPLX_API_KEY"}
    secret = "cli-secret-key"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reconciler.simulator",
            "--port",
            "0",
            "--key",
            f"{secret}:9",
            "--first-run-id",
            "500",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert match, line
        url = match.group(0)
        headers = {"X-Api-Key": secret}
        response = httpx.post(url + trigger_path(9), json=BODY, headers=headers, timeout=60)
        assert response.json() == {"testRunId": 500}
        assert httpx.post(url + trigger_path(8), json=BODY, headers=headers).status_code == 403
        assert httpx.post(url + cancel_path(500, 9), headers=headers).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert secret not in line + out + err
    assert "--key #1" in line


def test_command_refuses_a_non_loopback_host() -> None:
    result = CliRunner().invoke(simulator_command, ["--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 1
    assert "--allow-remote" in result.output


def test_command_reports_a_bad_key_option_without_echoing_it() -> None:
    result = CliRunner().invoke(simulator_command, ["--key", "top-secret:abc"])
    assert result.exit_code == 1
    assert "--key #1" in result.output
    assert "top-secret" not in result.output


def test_command_rejects_shares_out_of_range() -> None:
    result = CliRunner().invoke(simulator_command, ["--error-rate", "1.5"])
    assert result.exit_code == 2


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("192.168.1.5", False),
        ("example.com", False),
    ],
)
def test_loopback_hosts(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected


def test_keys_default_to_the_environment_then_the_demo_key() -> None:
    assert parse_keys((), "env-key") == {"env-key": KeyGrant(label="SPLX_API_KEY")}
    assert parse_keys((), None) == {DEMO_KEY: KeyGrant(label="demo")}
    assert parse_keys((), "") == {DEMO_KEY: KeyGrant(label="demo")}


def test_keys_with_and_without_workspaces() -> None:
    assert parse_keys(("a", "b:1,2"), "ignored") == {
        "a": KeyGrant(label="--key #1"),
        "b": KeyGrant(label="--key #2", workspaces=frozenset({1, 2})),
    }


@pytest.mark.parametrize("value", ["k:", "k:x", "k:1,,2", "k:2147483648"])
def test_bad_workspace_lists_are_refused(value: str) -> None:
    with pytest.raises(UsageError, match="--key #1") as caught:
        parse_keys((value,), None)
    assert "k:" not in str(caught.value)


def test_a_port_in_use_is_a_usage_error() -> None:
    with SimulatorServer() as sim:
        port = int(sim.url.rsplit(":", 1)[1])
        with pytest.raises(UsageError, match="choose another --port"):
            bind_socket("127.0.0.1", port)


@pytest.mark.parametrize(
    "changes",
    [
        {"keys": {}},
        {"keys": {" spaced ": KeyGrant("x")}},
        {"keys": {"k": KeyGrant("x", frozenset({2**31}))}},
        {"error_rate": 1.5},
        {"error_rate": float("nan")},
        {"rate_limit_rate": 0.6, "error_rate": 0.6},
        {"drop_after_trigger_rate": 0.7, "error_after_trigger_rate": 0.7},
        {"latency": -1},
        {"finish_after": float("inf")},
        {"retry_after": -1},
        {"first_run_id": 0},
        {"first_run_id": 2**31},
        {"request_log_limit": 0},
        {"time_scale": 0},
        {"time_scale": float("inf")},
        {"status_case": "lower"},
        {"test_cases_per_probe": -1},
        {"default_probe_ids": (2**31,)},
        {"outcomes": (OutcomeRule(test_run_id=1000),)},
    ],
)
def test_config_refuses_impossible_settings(changes: dict[str, object]) -> None:
    with pytest.raises(UsageError, match="simulator"):
        SimulatorConfig(**changes)  # type: ignore[arg-type]


def test_config_error_never_shows_a_key() -> None:
    with pytest.raises(UsageError) as caught:
        SimulatorConfig(keys={"secret-value ": KeyGrant("mine")})
    assert "secret-value" not in str(caught.value)
    assert "mine" in str(caught.value)


def test_server_start_stop_is_idempotent_and_guarded() -> None:
    sim = SimulatorServer()
    with pytest.raises(RuntimeError):
        _ = sim.url
    sim.start()
    with pytest.raises(RuntimeError):
        sim.start()
    sim.stop()
    sim.stop()


# --- results options -------------------------------------------------------------------------


def test_results_options_shape_what_the_served_runs_answer() -> None:
    env = {k: v for k, v in os.environ.items() if k != "SPLX_API_KEY"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reconciler.simulator",
            "--port",
            "0",
            "--status-case",
            "upper",
            "--test-cases",
            "10",
            "--finish-after",
            "36000",
            "--outcome",
            "Nightly*=failed:3,errored@102:2",
            "--outcome",
            "Nightly fast=finishAfter:0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        match = re.search(r"http://127\.0\.0\.1:\d+", proc.stdout.readline())
        assert match
        url = match.group(0)
        headers = {"X-Api-Key": DEMO_KEY}
        body = BODY | {"name": "Nightly fast"}
        run = httpx.post(url + trigger_path(1), json=body, headers=headers).json()["testRunId"]
        # The last matching rule wins: finishAfter 0 ends it at once, with default counts.
        document = httpx.get(f"{url}/api/v2/test-run/{run}/status", headers=headers).json()
        assert document["status"] == "FINISHED"
        assert [r["totalCount"] for r in document["probeRuns"]] == [10, 10]
        body = BODY | {"name": "Nightly slow"}
        run = httpx.post(url + trigger_path(1), json=body, headers=headers).json()["testRunId"]
        httpx.post(url + "/_simulator/clock", json={"advance": 36000}).raise_for_status()
        document = httpx.get(f"{url}/api/v2/test-run/{run}/status", headers=headers).json()
        assert document["status"] == "FINISHED"
        # The run's 3 failed are shared out over both probe runs (outcomes.share); the
        # errored ones are where the rule put them.
        assert sum(r["failedCount"] for r in document["probeRuns"]) == 3
        assert [r["errorCount"] for r in document["probeRuns"]] == [0, 2]
        rules = httpx.get(url + "/_simulator/outcomes").json()["outcomes"]
        assert rules[0] == {"name": "Nightly*", "failed": 3, "errored": {"102": 2}}
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("Nightly*=failed:4,errored:1", OutcomeRule(name="Nightly*", failed=4, errored=1)),
        ("a=b=status:Error", OutcomeRule(name="a=b", status="Error")),
        (
            "*=failed@101:2,failed@102:1,finishAfter:1.5",
            OutcomeRule(name="*", failed={101: 2, 102: 1}, finish_after=1.5),
        ),
        (
            "demo=failed:2,failAttack:CTLO-101-7,failAttack:JAIL-102-1,omitProbeRunId:true",
            OutcomeRule(
                name="demo",
                failed=2,
                fail_attacks=("CTLO-101-7", "JAIL-102-1"),
                omit_probe_run_id=True,
            ),
        ),
    ],
)
def test_outcome_option_spelling(text: str, rule: OutcomeRule) -> None:
    assert parse_outcome_option(text) == rule


@pytest.mark.parametrize(
    "text",
    [
        "Nightly",
        "=failed:1",
        "x=",
        "x=failed",
        "x=failed:-1",
        "x=failed:1.5",
        "x=passed:3",
        "x=status:Canceled",
        "x=status@1:Error",
        "x=failed@abc:1",
        "x=finishAfter:soon",
        "x=failed:1,failed@101:2",
        "x=failAttack:CTLO-101-99",
        "x=failAttack:JAIL-101-1",
        "x=omitProbeRunId:yes",
    ],
)
def test_bad_outcome_options_are_refused(text: str) -> None:
    with pytest.raises(OutcomeError):
        parse_outcome_option(text)


def test_command_reports_a_bad_outcome_naming_the_option() -> None:
    result = CliRunner().invoke(simulator_command, ["--outcome", "Nightly*=failed:lots"])
    assert result.exit_code == 1
    assert "--outcome 'Nightly*=failed:lots'" in result.output
    assert "whole number" in result.output
    assert "Traceback" not in result.output


# --- findings options ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("html", ExportFault(kind="html")),
        ("Nightly*=status:429", ExportFault(kind="status", name="Nightly*", status=429)),
        ("delay:40", ExportFault(kind="delay", seconds=40.0)),
        ("a=b=no-attack", ExportFault(kind="no-attack", name="a=b")),
    ],
)
def test_export_fault_option_spelling(text: str, fault: ExportFault) -> None:
    assert parse_fault_option(text) == fault


@pytest.mark.parametrize(
    "text", ["", "teapot", "status", "status:418", "status:x", "delay", "delay:-1", "html:1"]
)
def test_bad_export_fault_options_are_refused(text: str) -> None:
    result = CliRunner().invoke(simulator_command, ["--export-fault", text])
    assert result.exit_code == 1
    assert f"--export-fault {text!r}" in result.output
    assert "Traceback" not in result.output


def test_findings_options_shape_what_the_export_answers() -> None:
    env = {k: v for k, v in os.environ.items() if k != "SPLX_API_KEY"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reconciler.simulator",
            "--port",
            "0",
            "--finish-after",
            "36000",
            "--findings-shape",
            "array",
            "--content-marker",
            "MARK-cli",
            "--outcome",
            "*=failAttack:CTLO-101-7",
            "--export-fault",
            "broken*=status:503",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        match = re.search(r"http://127\.0\.0\.1:\d+", proc.stdout.readline())
        assert match
        url = match.group(0)
        headers = {"X-Api-Key": DEMO_KEY}
        for name in ("nightly", "broken one"):
            httpx.post(url + trigger_path(1), json=BODY | {"name": name}, headers=headers)
        httpx.post(url + "/_simulator/clock", json={"advance": 36000}).raise_for_status()
        body = {
            "filters": {
                "redTeam": None,
                "result": ["FAILED"],
                "search": None,
                "strategy": None,
                "variation": None,
            },
            "format": "json",
        }
        export = "/api/workspaces/1/probe-run/{}/test-cases/export"
        found = httpx.post(url + export.format(1), json=body, headers=headers).json()
        assert [case["attack"] for case in found] == ["CTLO-101-7"]
        assert found[0]["messages"][0]["content"].endswith(" MARK-cli")
        assert httpx.post(url + export.format(3), json=body, headers=headers).status_code == 503
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
