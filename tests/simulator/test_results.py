"""The results side of the simulator over real HTTP: status, the clock, outcomes, UI cancel,
delete and the PDF report."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from reconciler.simulator.app import UNAUTHORIZED_MESSAGE
from reconciler.simulator.outcomes import probe_weights, share
from reconciler.simulator.server import SimulatorServer

from .conftest import (
    BODY,
    HEADERS,
    LIMITED_KEY,
    FakeClock,
    MakeSim,
    assert_error,
    cancel_path,
    trigger_path,
)

UNAUTHORIZED_BODY = {"error": {"message": UNAUTHORIZED_MESSAGE, "code": "UNAUTHORIZED"}}
PROBE_RUN_FIELDS = {
    "probeName",
    "probeRunId",
    "probeId",
    "totalCount",
    "errorCount",
    "passedCount",
    "failedCount",
    "status",
}


def status_path(run_id: int | str, workspace: int | None = None) -> str:
    if workspace is None:
        return f"/api/v2/test-run/{run_id}/status"
    return f"/api/workspaces/{workspace}/test-run/{run_id}/status"


def trigger(http: httpx.Client, workspace: int = 1, **body: Any) -> int:
    response = http.post(trigger_path(workspace), json=BODY | body)
    assert response.status_code == 200, response.text
    return int(response.json()["testRunId"])


def status(http: httpx.Client, run_id: int, workspace: int | None = None) -> dict[str, Any]:
    response = http.get(status_path(run_id, workspace))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    document: dict[str, Any] = response.json()
    assert set(document) == {"testRunId", "executionDate", "status", "probeRuns"}
    assert document["testRunId"] == run_id
    for probe_run in document["probeRuns"]:
        assert set(probe_run) == PROBE_RUN_FIELDS
        counts = [probe_run[k] for k in ("passedCount", "failedCount", "errorCount")]
        assert all(type(n) is int and n >= 0 for n in [*counts, probe_run["totalCount"]])
        assert sum(counts) <= probe_run["totalCount"]
    return document


def totals(document: dict[str, Any]) -> dict[str, int]:
    return {
        key: sum(run[key] for run in document["probeRuns"])
        for key in ("totalCount", "passedCount", "failedCount", "errorCount")
    }


@pytest.fixture
def timed(make_sim: MakeSim, clock: FakeClock) -> SimulatorServer:
    """Pending for 1 s, Running until 11 s after the trigger, on the fake clock."""
    return make_sim(clock=clock, start_after=1, finish_after=11)


@pytest.fixture
def http(timed: SimulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=timed.url, headers=HEADERS, timeout=5) as client:
        yield client


# --- the status document ---------------------------------------------------------------------


def test_a_run_moves_pending_running_finished_with_counts_growing(
    http: httpx.Client, clock: FakeClock
) -> None:
    run = trigger(http, probeIds=[101, 102])
    pending = status(http, run)
    assert pending["status"] == "Pending"
    assert pending["executionDate"] is None
    assert [(r["probeId"], r["probeName"], r["status"]) for r in pending["probeRuns"]] == [
        (101, "Probe 101", "Pending"),
        (102, "Probe 102", "Pending"),
    ]
    assert set(totals(pending).values()) == {0}
    ids = [r["probeRunId"] for r in pending["probeRuns"]]
    assert len(set(ids)) == 2

    clock.advance(6)  # half way through the 10 s of running
    running = status(http, run)
    assert running["status"] == "Running"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", running["executionDate"])
    assert {r["status"] for r in running["probeRuns"]} == {"Running"}
    assert [r["probeRunId"] for r in running["probeRuns"]] == ids
    assert 0 < totals(running)["passedCount"] < totals(running)["totalCount"] == 40

    clock.advance(3)
    later = status(http, run)
    assert totals(later)["passedCount"] > totals(running)["passedCount"]

    clock.advance(2)
    finished = status(http, run)
    assert finished["status"] == "Finished"
    assert finished["executionDate"] == running["executionDate"]
    for probe_run in finished["probeRuns"]:
        assert probe_run["status"] == "Finished"
        assert probe_run["totalCount"] == 20 == probe_run["passedCount"]
    assert [r["probeRunId"] for r in finished["probeRuns"]] == ids


def test_null_probe_ids_get_the_default_probes_and_names_can_be_configured(
    make_sim: MakeSim, clock: FakeClock
) -> None:
    sim = make_sim(clock=clock, probe_names={102: "Jailbreak"}, default_probe_ids=(101, 102))
    with httpx.Client(base_url=sim.url, headers=HEADERS) as client:
        run = trigger(client, probeIds=None)
        names = [r["probeName"] for r in status(client, run)["probeRuns"]]
    assert names == ["Probe 101", "Jailbreak"]


def test_upper_case_statuses_for_the_run_and_its_probe_runs(
    make_sim: MakeSim, clock: FakeClock
) -> None:
    sim = make_sim(clock=clock, status_case="upper", start_after=1, finish_after=2)
    with httpx.Client(base_url=sim.url, headers=HEADERS) as client:
        run = trigger(client)
        seen = [status(client, run)]
        for _ in range(2):
            clock.advance(1.5)
            seen.append(status(client, run))
    assert [d["status"] for d in seen] == ["PENDING", "RUNNING", "FINISHED"]
    assert [{r["status"] for r in d["probeRuns"]} for d in seen] == [
        {"PENDING"},
        {"RUNNING"},
        {"FINISHED"},
    ]


def test_run_error_rate_ends_runs_in_error_with_a_probe_run_errored(
    make_sim: MakeSim, clock: FakeClock
) -> None:
    sim = make_sim(clock=clock, finish_after=1, run_error_rate=1.0)
    with httpx.Client(base_url=sim.url, headers=HEADERS) as client:
        run = trigger(client)
        clock.advance(2)
        document = status(client, run)
    assert document["status"] == "Error"
    assert [r["status"] for r in document["probeRuns"]] == ["Error", "Finished"]
    first = document["probeRuns"][0]
    assert first["errorCount"] == first["totalCount"] == 20


def test_status_refusals_in_the_documented_shapes(
    http: httpx.Client, timed: SimulatorServer
) -> None:
    run = trigger(http, workspace=3)
    url = timed.url + status_path(run)
    missing = httpx.get(url)
    assert missing.status_code == 401 and missing.json() == UNAUTHORIZED_BODY
    wrong = httpx.get(url, headers={"X-Api-Key": "nope"})
    assert wrong.status_code == 401 and wrong.json() == UNAUTHORIZED_BODY
    assert_error(httpx.get(url, headers={"X-Api-Key": LIMITED_KEY}), 403, "FORBIDDEN")
    assert_error(http.get(status_path(run + 50)), 404, "NOT_FOUND")
    for bad in ("abc", "2147483648", "1.5"):
        error = assert_error(http.get(status_path(bad)), 400, "VALIDATION_ERROR")
        assert set(error["validationErrors"]) == {"testRunId"}
    not_allowed = http.post(status_path(run))
    assert not_allowed.status_code == 405 and not_allowed.headers["Allow"] == "GET"

    # The workspace-scoped form: only in the run's own workspace.
    assert status(http, run, workspace=3)["testRunId"] == run
    assert_error(http.get(status_path(run, workspace=4)), 404, "NOT_FOUND")
    assert_error(
        httpx.get(timed.url + status_path(run, 3), headers={"X-Api-Key": LIMITED_KEY}),
        403,
        "FORBIDDEN",
    )

    logged = [e for e in timed.requests() if e.method == "GET"]
    assert logged[0].path == status_path(run) and logged[0].status == 401
    assert not logged[0].api_key_present
    assert any(e.test_run_id == run and e.status == 200 for e in logged)


def test_status_sees_injected_faults(http: httpx.Client, timed: SimulatorServer) -> None:
    run = trigger(http)
    timed.set_faults(rate_limit_rate=1.0, retry_after=7)
    limited = http.get(status_path(run))
    assert_error(limited, 429, "TOO_MANY_REQUESTS")
    assert limited.headers["Retry-After"] == "7"
    timed.set_faults(rate_limit_rate=0.0, error_rate=1.0)
    assert_error(http.get(status_path(run)), 500, "INTERNAL_SERVER_ERROR")
    assert [e.fault for e in timed.requests()[-2:]] == ["rate_limited", "server_error"]


# --- the clock -------------------------------------------------------------------------------


def test_advancing_the_clock_over_http_ends_runs(
    http: httpx.Client, timed: SimulatorServer
) -> None:
    run = trigger(http)
    admin = httpx.post(timed.url + "/_simulator/clock", json={"advance": 7200})
    assert admin.status_code == 200
    assert admin.json()["advanced"] == 7200
    assert status(http, run)["status"] == "Finished"
    assert httpx.get(timed.url + "/_simulator/clock").json()["advanced"] == 7200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"advance": -1}, "advance"),
        ({"advance": "10"}, "advance"),
        ({"advance": 1, "extra": 2}, "extra"),
        ([], "$"),
    ],
)
def test_clock_bodies_are_strict(timed: SimulatorServer, body: Any, field: str) -> None:
    error = assert_error(
        httpx.post(timed.url + "/_simulator/clock", json=body), 400, "ADMIN_REQUEST_INVALID"
    )
    assert set(error["validationErrors"]) == {field}
    assert httpx.get(timed.url + "/_simulator/clock").json()["advanced"] == 0


def test_time_scale_makes_two_simulated_hours_pass_in_a_second(
    make_sim: MakeSim, clock: FakeClock
) -> None:
    sim = make_sim(clock=clock, time_scale=7200, finish_after=7000)
    with httpx.Client(base_url=sim.url, headers=HEADERS) as client:
        run = trigger(client)
        clock.advance(0.5)
        assert status(client, run)["status"] == "Running"
        clock.advance(0.5)
        assert status(client, run)["status"] == "Finished"
    sim.reconfigure(time_scale=1.0)  # a new pace starts from now, the past stays
    assert sim.run_status(run) == "Finished"


# --- outcome rules ---------------------------------------------------------------------------


def test_a_name_rule_set_before_the_trigger_decides_the_end(
    http: httpx.Client, timed: SimulatorServer, clock: FakeClock
) -> None:
    rule = {"name": "Nightly*", "status": "Finished", "failed": 5, "errored": 1}
    answer = httpx.post(timed.url + "/_simulator/outcomes", json=rule)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"outcome": rule, "run": None}
    nightly = trigger(http, name="Nightly sweep", probeIds=[1, 2])
    other = trigger(http, name="weekly", probeIds=[1, 2])
    clock.advance(20)
    document = status(http, nightly)
    # The run's totals are shared out over its probe runs, the same way for the same run.
    failed = [r["failedCount"] for r in document["probeRuns"]]
    errored = [r["errorCount"] for r in document["probeRuns"]]
    weights = probe_weights(nightly, 2)
    assert failed == share(5, weights, [20, 20])
    assert errored == share(1, weights, [20 - f for f in failed])
    assert totals(document) == {
        "totalCount": 40,
        "passedCount": 34,
        "failedCount": 5,
        "errorCount": 1,
    }
    assert totals(status(http, other))["failedCount"] == 0
    listed = httpx.get(timed.url + "/_simulator/outcomes").json()
    assert listed == {"outcomes": [rule]}
    assert httpx.delete(timed.url + "/_simulator/outcomes").status_code == 204
    assert httpx.get(timed.url + "/_simulator/outcomes").json() == {"outcomes": []}


def test_the_latest_matching_rule_wins_and_finish_after_orders_runs(
    http: httpx.Client, timed: SimulatorServer, clock: FakeClock
) -> None:
    timed.set_outcome(name="*", finish_after=100)
    timed.set_outcome(name="fast", finish_after=5, status="Error", errored=2)
    slow, fast = trigger(http, name="slow"), trigger(http, name="fast")
    clock.advance(6)
    assert status(http, fast)["status"] == "Error"
    assert totals(status(http, fast))["errorCount"] == 2
    assert status(http, slow)["status"] == "Running"
    clock.advance(100)
    assert status(http, slow)["status"] == "Finished"


def test_a_rule_by_id_changes_a_run_still_going_and_per_probe_counts(
    http: httpx.Client, timed: SimulatorServer, clock: FakeClock
) -> None:
    run = trigger(http, probeIds=[101, 102])
    answer = httpx.post(
        timed.url + "/_simulator/outcomes",
        json={"testRunId": run, "failed": {"102": 25}, "errored": {"101": 1}},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["run"]["failed"] == 25
    clock.advance(20)
    probe_runs = status(http, run)["probeRuns"]
    assert [(r["totalCount"], r["failedCount"], r["errorCount"]) for r in probe_runs] == [
        (20, 0, 1),
        (25, 25, 0),
    ]
    ended = httpx.post(timed.url + "/_simulator/outcomes", json={"testRunId": run, "failed": 1})
    assert_error(ended, 409, "TEST_RUN_ENDED")
    assert_error(
        httpx.post(timed.url + "/_simulator/outcomes", json={"testRunId": run + 9}),
        404,
        "NOT_FOUND",
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "colour": "red"}, "colour"),
        ({"status": "Finished"}, "name"),
        ({"name": "x", "testRunId": 1000}, "name"),
        ({"name": "x", "status": "Canceled"}, "status"),
        ({"name": "x", "failed": -1}, "failed"),
        ({"name": "x", "failed": "4"}, "failed"),
        ({"name": "x", "errored": {"abc": 1}}, "errored"),
        ({"name": "x", "finishAfter": -5}, "finishAfter"),
        ({"testRunId": 1000, "failed": {"999": 1}}, "failed"),
    ],
)
def test_outcome_bodies_are_strict(
    http: httpx.Client, timed: SimulatorServer, body: dict[str, Any], field: str
) -> None:
    trigger(http)  # run 1000, probes 101 and 102
    answer = httpx.post(timed.url + "/_simulator/outcomes", json=body)
    error = assert_error(answer, 400, "ADMIN_REQUEST_INVALID")
    assert set(error["validationErrors"]) == {field}, error
    assert httpx.get(timed.url + "/_simulator/outcomes").json() == {"outcomes": []}


# --- cancel from the UI, delete --------------------------------------------------------------


def test_cancel_from_the_ui_freezes_the_counts_and_the_api_cancel_then_refuses(
    http: httpx.Client, timed: SimulatorServer, clock: FakeClock
) -> None:
    run = trigger(http, workspace=5)
    clock.advance(6)
    answer = httpx.post(f"{timed.url}/_simulator/runs/{run}/cancel")
    assert answer.status_code == 200 and answer.json() == {"testRunId": run, "status": "Canceled"}
    frozen = status(http, run)
    assert frozen["status"] == "Canceled"
    assert {r["status"] for r in frozen["probeRuns"]} == {"Canceled"}
    assert 0 < totals(frozen)["passedCount"] < 40
    clock.advance(60)
    assert status(http, run) == frozen
    assert_error(http.post(cancel_path(run, 5)), 400, "TEST_RUN_NOT_CANCELABLE")
    again = httpx.post(f"{timed.url}/_simulator/runs/{run}/cancel")
    assert_error(again, 409, "TEST_RUN_NOT_CANCELABLE")
    assert_error(httpx.post(f"{timed.url}/_simulator/runs/{run + 1}/cancel"), 404, "NOT_FOUND")
    assert_error(httpx.post(f"{timed.url}/_simulator/runs/x/cancel"), 400, "ADMIN_REQUEST_INVALID")


def test_a_run_cancelled_while_pending_has_no_execution_date(
    http: httpx.Client, timed: SimulatorServer
) -> None:
    run = trigger(http)
    assert timed.cancel_from_ui(run).value == "canceled"
    document = status(http, run)
    assert document["status"] == "Canceled" and document["executionDate"] is None
    assert set(totals(document).values()) == {0}


def test_a_deleted_run_is_gone(http: httpx.Client, timed: SimulatorServer) -> None:
    run = trigger(http)
    assert httpx.delete(f"{timed.url}/_simulator/runs/{run}").status_code == 204
    assert_error(http.get(status_path(run)), 404, "NOT_FOUND")
    assert_error(http.post(cancel_path(run)), 404, "NOT_FOUND")
    assert_error(httpx.delete(f"{timed.url}/_simulator/runs/{run}"), 404, "NOT_FOUND")
    assert timed.runs() == []


# --- the PDF report --------------------------------------------------------------------------


def check_pdf(data: bytes) -> bytes:
    """Assert the PDF's structure a reader relies on; returns the page's content stream."""
    assert data.startswith(b"%PDF-1.") and data.rstrip().endswith(b"%%EOF")
    startxref = int(re.findall(rb"startxref\n(\d+)\n", data)[-1])
    assert data[startxref:].startswith(b"xref\n")
    header = re.match(rb"xref\n0 (\d+)\n", data[startxref:])
    assert header
    count = int(header.group(1))
    entries_at = startxref + header.end()
    entries = [data[entries_at + 20 * i : entries_at + 20 * (i + 1)] for i in range(count)]
    assert entries[0] == b"0000000000 65535 f \n"
    for number, entry in enumerate(entries[1:], start=1):
        assert re.fullmatch(rb"\d{10} 00000 n \n", entry), entry
        assert data[int(entry[:10]) :].startswith(b"%d 0 obj" % number)
    assert re.search(rb"trailer\n<< /Size %d /Root 1 0 R" % count, data)
    assert b"/Type /Page " in data and b"/Count 1" in data
    stream = re.search(rb"<< /Length (\d+) >>\nstream\n", data)
    assert stream
    content = data[stream.end() : stream.end() + int(stream.group(1))]
    assert data[stream.end() + int(stream.group(1)) :].startswith(b"\nendstream")
    return content


def test_the_report_of_an_ended_run_is_a_valid_pdf(
    http: httpx.Client, timed: SimulatorServer, clock: FakeClock
) -> None:
    timed.set_outcome(name="*", failed=3)
    run = trigger(http, name="Nightly (EU) \\ \U0001f680")
    report = f"/api/v2/test-run/{run}/report"
    error = assert_error(http.get(report), 400, "TEST_RUN_NOT_ENDED")
    assert "Pending" in error["message"]
    clock.advance(20)
    answer = http.get(report)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/pdf"
    content = check_pdf(answer.content)
    assert b"test run %d" % run in content
    assert b"(Name: Nightly \\(EU\\) \\\\ ?) Tj" in content
    assert b"40 total, 37 passed, 3 failed, 0 errored" in content
    assert_error(http.get(f"/api/v2/test-run/{run + 1}/report"), 404, "NOT_FOUND")
    assert httpx.get(timed.url + report).status_code == 401
    assert_error(
        httpx.get(timed.url + report, headers={"X-Api-Key": LIMITED_KEY}), 403, "FORBIDDEN"
    )


def test_a_cancelled_run_has_a_report_too(http: httpx.Client, timed: SimulatorServer) -> None:
    run = trigger(http)
    timed.cancel_from_ui(run)
    content = check_pdf(http.get(f"/api/v2/test-run/{run}/report").content)
    assert b"Status: Canceled" in content


def test_the_python_control_api_matches_the_http_one(
    http: httpx.Client, timed: SimulatorServer, clock: FakeClock
) -> None:
    run = trigger(http)
    assert timed.set_outcome(test_run_id=run, failed=2)["failed"] == 2  # type: ignore[index]
    with pytest.raises(LookupError, match="not found"):
        timed.set_outcome(test_run_id=run + 1, failed=1)
    timed.advance_clock(20)
    assert timed.status_document(run) == status(http, run)
    with pytest.raises(LookupError, match="already ended"):
        timed.set_outcome(test_run_id=run, failed=1)
    assert timed.cancel_from_ui(run).value == "already ended"
    assert timed.delete_run(run) and not timed.delete_run(run)
    assert timed.status_document(run) is None
