"""Controlling the export for tests and demos: answer shapes, forced attacks, the status
document without probe run ids, big runs, and export faults (bad answers on purpose)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from reconciler.simulator.export import SHAPES
from reconciler.simulator.outcomes import OutcomeError
from reconciler.simulator.server import SimulatorServer

from .conftest import BODY, HEADERS, FakeClock, MakeSim, assert_error
from .test_export import cases, ended_run, export, identities


@pytest.fixture
def sim(make_sim: MakeSim, clock: FakeClock) -> SimulatorServer:
    return make_sim(clock=clock, start_after=0, finish_after=5)


def failing_run(
    client: httpx.Client, sim: SimulatorServer, clock: FakeClock, name: str = "nightly"
) -> dict[str, Any]:
    """An ended run whose first probe run (101) failed 3 test cases."""
    sim.set_outcome(name=name, failed={101: 3})
    return ended_run(client, sim, clock, name=name)


# --- shapes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_each_shape_holds_the_same_test_cases(
    make_sim: MakeSim, clock: FakeClock, shape: str
) -> None:
    sim = make_sim(clock=clock, start_after=0, finish_after=5, findings_shape=shape)
    with httpx.Client(base_url=sim.url, headers=HEADERS) as client:
        failing_run(client, sim, clock)
        document = export(client, 1).json()
    expected = sim.test_cases(1000, "FAILED")
    assert expected is not None and len(expected[1]) == 3
    if shape == "array":
        assert document == expected[1]
    else:
        assert document == {SHAPES[shape]: expected[1], "totalCount": 3}


def test_the_shape_changes_at_runtime(
    sim: SimulatorServer, client: httpx.Client, clock: FakeClock
) -> None:
    failing_run(client, sim, clock)
    sim.reconfigure(findings_shape="items")
    assert set(export(client, 1).json()) == {"items", "totalCount"}


# --- forced attacks, no probeRunId, big runs -------------------------------------------------


def test_a_forced_attack_fails_and_counts_stay_equal(
    sim: SimulatorServer, client: httpx.Client, clock: FakeClock
) -> None:
    # No failed count at all: the forced attack alone makes probe 101 fail one test case.
    sim.set_outcome(name="demo", fail_attacks=["CTLO-101-7"])
    document = ended_run(client, sim, clock, name="demo")
    assert [r["failedCount"] for r in document["probeRuns"]] == [1, 0]
    assert [c["attack"] for c in cases(export(client, 1))] == ["CTLO-101-7"]
    # With a run total: still the total, the forced attack among them.
    sim.set_outcome(name="demo", failed=5, fail_attacks=["CTLO-101-7", "JAIL-102-3"])
    document = ended_run(client, sim, clock, name="demo")
    assert sum(r["failedCount"] for r in document["probeRuns"]) == 5
    first, second = (cases(export(client, r["probeRunId"])) for r in document["probeRuns"])
    assert "CTLO-101-7" in {c["attack"] for c in first}
    assert "JAIL-102-3" in {c["attack"] for c in second}
    assert [len(first), len(second)] == [r["failedCount"] for r in document["probeRuns"]]


def test_a_forced_attack_is_new_once_then_known(
    sim: SimulatorServer, client: httpx.Client, clock: FakeClock
) -> None:
    sim.set_outcome(name="nightly", failed={101: 3})
    before = identities(
        cases(export(client, ended_run(client, sim, clock)["probeRuns"][0]["probeRunId"])), 101
    )
    sim.set_outcome(name="nightly", failed={101: 3}, fail_attacks=["CTLO-101-40"])
    runs = [ended_run(client, sim, clock)["probeRuns"][0]["probeRunId"] for _ in range(2)]
    second, third = (cases(export(client, probe_run)) for probe_run in runs)
    assert "CTLO-101-40" in {c["attack"] for c in second} & {c["attack"] for c in third}
    forced = identities([c for c in second if c["attack"] == "CTLO-101-40"], 101)
    assert not forced & before  # new in the second run
    assert forced <= identities(third, 101)  # known in the third


def test_a_forced_attack_by_run_id(
    sim: SimulatorServer, client: httpx.Client, clock: FakeClock
) -> None:
    run_id = client.post("/api/workspaces/1/test-run/trigger", json=BODY).json()["testRunId"]
    response = httpx.post(
        f"{sim.url}/_simulator/outcomes", json={"testRunId": run_id, "failAttacks": ["PINJ-103-2"]}
    )
    error = assert_error(response, 400, "ADMIN_REQUEST_INVALID")
    assert "no probe 103" in error["message"]
    response = httpx.post(
        f"{sim.url}/_simulator/outcomes", json={"testRunId": run_id, "failAttacks": ["JAIL-102-9"]}
    )
    assert response.json()["run"]["failAttacks"] == ["JAIL-102-9"]
    clock.advance(10)
    assert [c["attack"] for c in cases(export(client, 2))] == ["JAIL-102-9"]


@pytest.mark.parametrize(
    "value", ["CTLO-101-7", ["CTLO-101-0"], ["JAIL-101-7"], [7], ["CTLO-101-49"]]
)
def test_bad_forced_attacks_are_refused(sim: SimulatorServer, value: object) -> None:
    response = httpx.post(
        f"{sim.url}/_simulator/outcomes", json={"name": "x", "failAttacks": value}
    )
    error = assert_error(response, 400, "ADMIN_REQUEST_INVALID")
    assert set(error["validationErrors"]) == {"failAttacks"}


def test_a_status_document_without_probe_run_ids(
    sim: SimulatorServer, client: httpx.Client, clock: FakeClock
) -> None:
    sim.set_outcome(name="nightly", failed=2, omit_probe_run_id=True)
    document = ended_run(client, sim, clock)
    assert all("probeRunId" not in r for r in document["probeRuns"])
    assert sum(r["failedCount"] for r in document["probeRuns"]) == 2
    # The platform still has them: the inspection endpoint names them, the export answers.
    inspected = httpx.get(f"{sim.url}/_simulator/runs/{document['testRunId']}/test-cases").json()
    assert sum(len(cases(export(client, r["probeRunId"]))) for r in inspected["probeRuns"]) == 2
    assert sim.runs()[0]["omitProbeRunId"] is True


def test_more_than_200_failed_test_cases_each_its_own_finding(
    sim: SimulatorServer, client: httpx.Client, clock: FakeClock
) -> None:
    sim.set_outcome(name="nightly", failed={101: 250})
    document = ended_run(client, sim, clock)
    assert document["probeRuns"][0]["failedCount"] == 250
    found = cases(export(client, document["probeRuns"][0]["probeRunId"]))
    assert len(found) == 250
    assert len(identities(found, 101)) == 250
    assert len({c["attack"] for c in found}) < 250  # attacks come back in other variations


def test_the_inspection_endpoint(
    sim: SimulatorServer, client: httpx.Client, clock: FakeClock
) -> None:
    document = failing_run(client, sim, clock)
    answer = httpx.get(f"{sim.url}/_simulator/runs/{document['testRunId']}/test-cases").json()
    assert answer["testRunId"] == document["testRunId"]
    for inspected, probe_run in zip(answer["probeRuns"], document["probeRuns"], strict=True):
        assert inspected["probeRunId"] == probe_run["probeRunId"]
        assert inspected["counts"] == {
            "FAILED": probe_run["failedCount"],
            "ERROR": probe_run["errorCount"],
            "PASSED": probe_run["passedCount"],
        }
        assert inspected["testCases"] == cases(export(client, probe_run["probeRunId"], result=None))
    assert httpx.get(f"{sim.url}/_simulator/runs/4242/test-cases").status_code == 404
    response = httpx.get(f"{sim.url}/_simulator/runs/x/test-cases")
    assert_error(response, 400, "ADMIN_REQUEST_INVALID")


def test_a_content_marker_is_in_every_message(make_sim: MakeSim, clock: FakeClock) -> None:
    sim = make_sim(clock=clock, start_after=0, finish_after=5, content_marker="MARK-7f3a")
    with httpx.Client(base_url=sim.url, headers=HEADERS) as client:
        failing_run(client, sim, clock)
        found = cases(export(client, 1, result=None))
    assert len(found) == 20
    assert all(m["content"].endswith(" MARK-7f3a") for c in found for m in c["messages"])


# --- export faults ---------------------------------------------------------------------------


def test_an_html_page_with_200(
    sim: SimulatorServer, client: httpx.Client, clock: FakeClock
) -> None:
    failing_run(client, sim, clock)
    sim.set_export_fault("html")
    response = export(client, 1)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.startswith("<!DOCTYPE html>")
    assert sim.requests()[-1].fault == "export:html"


def test_a_body_that_is_not_json(
    sim: SimulatorServer, client: httpx.Client, clock: FakeClock
) -> None:
    failing_run(client, sim, clock)
    sim.set_export_fault("not-json")
    response = export(client, 1)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_json_with_no_list_of_test_cases(
    sim: SimulatorServer, client: httpx.Client, clock: FakeClock
) -> None:
    failing_run(client, sim, clock)
    sim.set_export_fault("no-list")
    assert export(client, 1).json() == {"message": "ok", "total": 3}


def test_test_cases_without_attack_fields(
    sim: SimulatorServer, client: httpx.Client, clock: FakeClock
) -> None:
    failing_run(client, sim, clock)
    sim.set_export_fault("no-attack")
    found = cases(export(client, 1))
    assert len(found) == 3
    assert all(set(c) == {"id", "detectionTime", "result", "messages"} for c in found)


def test_duplicate_test_cases(sim: SimulatorServer, client: httpx.Client, clock: FakeClock) -> None:
    failing_run(client, sim, clock)
    normal = cases(export(client, 1))
    sim.set_export_fault("duplicates")
    doubled = cases(export(client, 1))
    assert doubled == [case for case in normal for _ in range(2)]


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (401, "UNAUTHORIZED"),
        (403, "FORBIDDEN"),
        (404, "NOT_FOUND"),
        (429, "TOO_MANY_REQUESTS"),
        (500, "INTERNAL_SERVER_ERROR"),
        (503, "SERVICE_UNAVAILABLE"),
    ],
)
def test_a_chosen_status(
    sim: SimulatorServer, client: httpx.Client, clock: FakeClock, status: int, code: str
) -> None:
    failing_run(client, sim, clock)
    sim.reconfigure(retry_after=9)
    sim.set_export_fault("status", status=status)
    response = export(client, 1)
    assert_error(response, status, code)
    assert response.headers.get("Retry-After") == ("9" if status == 429 else None)
    assert sim.requests()[-1].fault == f"export:status:{status}"


def test_a_chosen_405(sim: SimulatorServer, client: httpx.Client, clock: FakeClock) -> None:
    failing_run(client, sim, clock)
    sim.set_export_fault("status", status=405)
    response = export(client, 1)
    assert (response.status_code, response.headers["Allow"], response.content) == (405, "POST", b"")


def test_a_delay_longer_than_the_client_waits(
    sim: SimulatorServer, client: httpx.Client, clock: FakeClock
) -> None:
    failing_run(client, sim, clock)
    sim.set_export_fault("delay", seconds=60)
    with pytest.raises(httpx.ReadTimeout):
        client.post(
            "/api/workspaces/1/probe-run/1/test-cases/export",
            json={
                "filters": {
                    "redTeam": None,
                    "result": ["FAILED"],
                    "search": None,
                    "strategy": None,
                    "variation": None,
                },
                "format": "json",
            },
            timeout=0.3,
        )
    sim.set_export_fault("delay", seconds=0)
    assert len(cases(export(client, 1))) == 3


def test_faults_select_runs_and_count_down(
    sim: SimulatorServer, client: httpx.Client, clock: FakeClock
) -> None:
    first = failing_run(client, sim, clock, name="nightly")["probeRuns"][0]["probeRunId"]
    second = failing_run(client, sim, clock, name="weekly")["probeRuns"][0]["probeRunId"]
    sim.set_export_fault("no-list", name="week*")
    assert len(cases(export(client, first))) == 3
    assert export(client, second).json() == {"message": "ok", "total": 3}
    # By run id, twice only; the latest fault that selects a run wins.
    sim.set_export_fault("status", status=500, test_run_id=1000, times=2)
    assert [export(client, first).status_code for _ in range(3)] == [500, 500, 200]
    assert export(client, second).json() == {"message": "ok", "total": 3}
    assert sim.export_faults() == [{"fault": "no-list", "name": "week*"}]
    sim.clear_export_faults()
    assert len(cases(export(client, second))) == 3


def test_the_export_faults_control_endpoints(
    sim: SimulatorServer, client: httpx.Client, clock: FakeClock
) -> None:
    failing_run(client, sim, clock)
    url = f"{sim.url}/_simulator/export-faults"
    response = httpx.post(url, json={"fault": "status", "status": 429, "times": 1})
    assert response.json() == {"exportFault": {"fault": "status", "status": 429, "times": 1}}
    assert httpx.get(url).json() == {
        "exportFaults": [{"fault": "status", "status": 429, "times": 1, "left": 1}]
    }
    assert export(client, 1).status_code == 429
    assert httpx.get(url).json() == {"exportFaults": []}
    httpx.post(url, json={"fault": "html"}).raise_for_status()
    assert httpx.delete(url).status_code == 204
    assert export(client, 1).status_code == 200
    assert httpx.put(url).status_code == 405


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "fault"),
        ({"fault": "teapot"}, "fault"),
        ({"fault": "status"}, "status"),
        ({"fault": "status", "status": 418}, "status"),
        ({"fault": "html", "status": 500}, "status"),
        ({"fault": "delay"}, "seconds"),
        ({"fault": "delay", "seconds": -1}, "seconds"),
        ({"fault": "html", "times": 0}, "times"),
        ({"fault": "html", "testRunId": "1000"}, "testRunId"),
        ({"fault": "html", "name": "a", "testRunId": 1000}, "name"),
        ({"fault": "html", "probeRunId": 1}, "probeRunId"),
    ],
)
def test_bad_export_faults_are_refused(
    sim: SimulatorServer, body: dict[str, Any], field: str
) -> None:
    response = httpx.post(f"{sim.url}/_simulator/export-faults", json=body)
    error = assert_error(response, 400, "ADMIN_REQUEST_INVALID")
    assert set(error["validationErrors"]) == {field}
    assert sim.export_faults() == []


def test_bad_export_faults_are_refused_in_python_too(sim: SimulatorServer) -> None:
    with pytest.raises(OutcomeError, match="status"):
        sim.set_export_fault("status", status=418)
    with pytest.raises(OutcomeError, match="fault must be one of"):
        sim.set_export_fault("teapot")
