"""ProbeClient.export_findings against the simulator on loopback: the request as documented,
the findings it answers, and one clear line for every way the export can fail."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from reconciler.api.client import ProbeClient
from reconciler.api.retry import RetryPolicy
from reconciler.errors import (
    ApiError,
    AuthenticationError,
    NotSentError,
    PermissionDeniedError,
    RateLimitedError,
    RequestRejectedError,
    ServerError,
)
from reconciler.records import RunAttributes
from reconciler.results.findings import FAILED, record_findings
from reconciler.results.model import ProbeRunResult, RunResult
from reconciler.simulator.config import SimulatorConfig
from reconciler.simulator.export import ExportFault
from reconciler.simulator.server import SimulatorServer
from tests.simulator.conftest import KEY, LIMITED_KEY, TEST_KEYS, FakeClock

from .conftest import Sleeps

RUN_KEY = "nightly-jailbreak"
WORKSPACE = 4
DOCUMENTED_BODY = {
    "filters": {
        "redTeam": None,
        "result": ["FAILED"],
        "search": None,
        "strategy": None,
        "variation": None,
    },
    "format": "json",
}
MARKER = "MARKER-7f3a9c"


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """httpx honours proxy variables; loopback traffic must not go through one."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock: FakeClock) -> Iterator[SimulatorServer]:
    config = SimulatorConfig(keys=TEST_KEYS, finish_after=10, content_marker=MARKER)
    server = SimulatorServer(config, clock=clock).start()
    server.set_outcome(name="night*", failed=5, errored=1)
    yield server
    server.stop()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def client_for(sim: SimulatorServer, sleeps: Sleeps, key: str = KEY, **options: Any) -> ProbeClient:
    options.setdefault(
        "retry", RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0, sleep=sleeps)
    )
    return ProbeClient(sim.url, key, **options)


@pytest.fixture
def client(sim: SimulatorServer, sleeps: Sleeps) -> Iterator[ProbeClient]:
    with client_for(sim, sleeps) as made:
        yield made


def ended_run(sim: SimulatorServer, clock: FakeClock, client: ProbeClient) -> RunResult:
    """A run of probes 7 and 8 in workspace 4, ended with 5 failed test cases."""
    attributes = RunAttributes(
        workspace_id=WORKSPACE, target_id=42, probe_ids=(7, 8), name="nightly"
    )
    run_id = client.trigger(attributes, key=RUN_KEY)
    clock.advance(60)
    result = client.get_status(WORKSPACE, run_id, key=RUN_KEY, seen_at="2026-12-02T00:00:00Z")
    assert result is not None and result.ended
    return result


@pytest.fixture
def run(sim: SimulatorServer, clock: FakeClock, client: ProbeClient) -> RunResult:
    return ended_run(sim, clock, client)


def failing(run: RunResult) -> ProbeRunResult:
    """The first probe run with failures."""
    return next(p for p in run.probe_runs if p.counts.failed)


def exports(sim: SimulatorServer) -> list[Any]:
    return [r for r in sim.requests() if r.path.endswith("/test-cases/export")]


def fault(sim: SimulatorServer, kind: str, **fields: Any) -> None:
    sim.reconfigure(export_faults=(ExportFault(kind, **fields),))


# --- what is sent and what comes back --------------------------------------------------------


def test_the_request_is_the_documented_one(
    sim: SimulatorServer, client: ProbeClient, run: RunResult
) -> None:
    probe_run = failing(run)
    client.export_findings(WORKSPACE, run.test_run_id, probe_run, key=RUN_KEY)

    (request,) = exports(sim)
    assert request.method == "POST"
    assert request.path == (
        f"/api/workspaces/{WORKSPACE}/probe-run/{probe_run.probe_run_id}/test-cases/export"
    )
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert headers["content-type"] == "application/json-patch+json"
    assert headers["accept"] == "application/json"
    assert request.api_key_ok
    assert json.loads(request.body) == DOCUMENTED_BODY
    assert list(json.loads(request.body)) == ["filters", "format"]
    assert list(json.loads(request.body)["filters"]) == [
        "redTeam",
        "result",
        "search",
        "strategy",
        "variation",
    ]


def test_every_failed_test_case_becomes_a_finding(client: ProbeClient, run: RunResult) -> None:
    found = [
        finding
        for probe_run in run.probe_runs
        if probe_run.counts.failed
        for finding in client.export_findings(WORKSPACE, run.test_run_id, probe_run, key=RUN_KEY)
    ]

    assert len(found) == run.counts.failed == 5
    assert {f.result for f in found} == {FAILED}
    by_probe_run = {p.probe_run_id: p for p in run.probe_runs}
    for finding in found:
        record = finding.record
        probe_run = by_probe_run[record.probe_run_id]
        assert record.probe_id == probe_run.probe_id
        assert finding.probe_name == probe_run.probe_name
        assert record.identified and record.test_case_id and record.detected_at
        assert {m.role for m in finding.messages} == {"user", "assistant"}
        assert all(MARKER in m.content for m in finding.messages)


def test_a_probe_run_without_id_is_refused_before_anything_is_sent(
    sim: SimulatorServer, client: ProbeClient, run: RunResult
) -> None:
    probe_run = failing(run).model_copy(update={"probe_run_id": None})
    with pytest.raises(NotSentError) as caught:
        client.export_findings(WORKSPACE, run.test_run_id, probe_run, key=RUN_KEY)
    assert str(caught.value) == (
        f"findings of {RUN_KEY!r} (run {run.test_run_id}, probe {probe_run.probe_name!r}, "
        f"probe run without id, workspace {WORKSPACE}): the status document gave this probe "
        "run no probeRunId, so its test cases cannot be asked for; nothing was sent and its "
        "findings were not read. The ended run's status is not read again: see its test "
        "cases in the SPLX Probe UI."
    )
    assert exports(sim) == []


def test_test_cases_without_attack_fields_are_findings_that_cannot_be_recognised(
    sim: SimulatorServer, client: ProbeClient, run: RunResult
) -> None:
    fault(sim, "no-attack")
    found = client.export_findings(WORKSPACE, run.test_run_id, failing(run), key=RUN_KEY)
    assert found and all(not f.record.identified for f in found)
    assert all(f.record.test_case_id for f in found)


def test_duplicates_are_returned_and_merged_when_recorded(
    sim: SimulatorServer, client: ProbeClient, run: RunResult
) -> None:
    probe_run = failing(run)
    fault(sim, "duplicates")
    found = client.export_findings(WORKSPACE, run.test_run_id, probe_run, key=RUN_KEY)
    assert len(found) == 2 * probe_run.counts.failed
    recorded = record_findings([f.record for f in found], read_at="now")
    assert {r.occurrences for r in recorded.records} == {2}


@pytest.mark.parametrize("status", [429, 500, 503])
def test_transient_failures_are_retried_then_read(
    sim: SimulatorServer, client: ProbeClient, run: RunResult, sleeps: Sleeps, status: int
) -> None:
    probe_run = failing(run)
    fault(sim, "status", status=status, times=2)
    found = client.export_findings(WORKSPACE, run.test_run_id, probe_run, key=RUN_KEY)
    assert len(found) == probe_run.counts.failed
    assert [r.status for r in exports(sim)] == [status, status, 200]
    assert len(sleeps.delays) == 2


def test_a_429_waits_as_long_as_retry_after_says(
    sim: SimulatorServer, client: ProbeClient, run: RunResult, sleeps: Sleeps
) -> None:
    sim.set_faults(retry_after=3)
    fault(sim, "status", status=429, times=1)
    client.export_findings(WORKSPACE, run.test_run_id, failing(run), key=RUN_KEY)
    assert sleeps.delays == [3.0]


def test_a_custom_path_is_followed(sim: SimulatorServer, clock: FakeClock, sleeps: Sleeps) -> None:
    with client_for(sim, sleeps, findings_path_template="/moved/{probeRunId}") as moved:
        run = ended_run(sim, clock, moved)
        with pytest.raises(RequestRejectedError) as caught:
            moved.export_findings(WORKSPACE, run.test_run_id, failing(run), key=RUN_KEY)
    assert f"(404 Not Found to POST /moved/{failing(run).probe_run_id}); " in str(caught.value)
    assert "check the findingsPath setting" in str(caught.value)


# --- each failure is one line naming the key, run, probe run and what to do -----------------


def read_error(
    client: ProbeClient, run: RunResult, probe_run: ProbeRunResult | None = None
) -> ApiError:
    probe_run = probe_run or failing(run)
    with pytest.raises(ApiError) as caught:
        client.export_findings(WORKSPACE, run.test_run_id, probe_run, key=RUN_KEY)
    error = caught.value
    message = str(error)
    assert "\n" not in message and KEY not in message and MARKER not in message
    assert message.startswith(
        f"findings of {RUN_KEY!r} (run {run.test_run_id}, probe {probe_run.probe_name!r}, "
        f"probe run {probe_run.probe_run_id}, workspace {WORKSPACE}): "
    )
    return error


@pytest.mark.parametrize(
    ("fields", "kind", "fatal", "says"),
    [
        (
            {"status": 401},
            AuthenticationError,
            True,
            "the API rejected the key in SPLX_API_KEY (401 Unauthorized)",
        ),
        ({"status": 403}, PermissionDeniedError, True, "may not act on workspace 4 (403"),
        (
            {"status": 404},
            RequestRejectedError,
            False,
            "the probe run is not known to the API (404 Not Found to POST /api/workspaces/4/"
            "probe-run/",
        ),
        (
            {"status": 405},
            RequestRejectedError,
            False,
            "(405 Method Not Allowed); its findings were not read. The export may have moved: "
            "check the findingsPath setting",
        ),
        (
            {"status": 400},
            RequestRejectedError,
            False,
            "the request is the documented one, so the API may have changed",
        ),
        (
            {"status": 429},
            RateLimitedError,
            False,
            "the API is rate limiting requests (HTTP 429 Too Many Requests: ",
        ),
        (
            {"status": 500},
            ServerError,
            False,
            "after 3 attempts; its findings were not read, and nothing is recorded for it. "
            "Try again later (a read is safe to repeat).",
        ),
    ],
)
def test_each_refusal(
    sim: SimulatorServer,
    client: ProbeClient,
    run: RunResult,
    fields: dict[str, Any],
    kind: type[ApiError],
    fatal: bool,
    says: str,
) -> None:
    fault(sim, "status", **fields)
    error = read_error(client, run)
    assert type(error) is kind and error.fatal is fatal
    assert says in str(error)


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        ("html", "the API answered 200 with an HTML page ("),
        ("not-json", "the API answered 200 with a body that is not JSON (application/json, "),
        ("no-list", "the API answered 200 with a JSON object with no list of test cases in it "),
    ],
)
def test_each_answer_without_test_cases(
    sim: SimulatorServer, client: ProbeClient, run: RunResult, kind: str, says: str
) -> None:
    fault(sim, kind)
    error = read_error(client, run)
    assert type(error) is ServerError and not error.fatal
    assert says in str(error)
    assert str(error).endswith(
        "its findings were not read. If the API moved, check the findingsPath setting "
        "(reconciler.yaml or RECONCILER_FINDINGS_PATH)."
    )


def test_no_list_names_the_keys_it_saw(
    sim: SimulatorServer, client: ProbeClient, run: RunResult
) -> None:
    fault(sim, "no-list")
    assert "(top-level keys: " in str(read_error(client, run))


def test_a_real_404_for_a_probe_run_the_api_does_not_know(
    client: ProbeClient, run: RunResult
) -> None:
    unknown = failing(run).model_copy(update={"probe_run_id": 999_999})
    error = read_error(client, run, unknown)
    assert isinstance(error, RequestRejectedError) and error.status == 404
    assert str(error).endswith(
        ": the probe run is not known to the API (404 Not Found to POST /api/workspaces/4/"
        "probe-run/999999/test-cases/export); its findings were not read. If the run was "
        "deleted there is nothing to read; if the API moved, check the findingsPath setting "
        "(reconciler.yaml or RECONCILER_FINDINGS_PATH)."
    )


def test_a_key_without_the_workspace_is_fatal(
    sim: SimulatorServer, client: ProbeClient, run: RunResult, sleeps: Sleeps
) -> None:
    with client_for(sim, sleeps, key=LIMITED_KEY) as limited:
        error = read_error(limited, run)
    assert isinstance(error, PermissionDeniedError) and error.fatal
    assert LIMITED_KEY not in str(error)


def test_a_timeout_is_retried_then_named(
    sim: SimulatorServer, run: RunResult, sleeps: Sleeps
) -> None:
    fault(sim, "delay", seconds=5)
    with client_for(sim, sleeps, timeout=httpx.Timeout(0.3)) as impatient:
        error = read_error(impatient, run)
    assert isinstance(error, ServerError)
    assert "the API failed (read timeout" in str(error) and "after 3 attempts" in str(error)


# --- --debug ---------------------------------------------------------------------------------


def test_debug_logs_field_names_never_content_or_the_key(
    client: ProbeClient, run: RunResult, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        found = client.export_findings(WORKSPACE, run.test_run_id, failing(run), key=RUN_KEY)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "fields of the first: " in text and "attack" in text and "messages" in text
    assert f"{len(found)} FAILED (the status said {len(found)})" in text
    assert MARKER not in text and KEY not in text
    assert all(m.content not in text for f in found for m in f.messages)
