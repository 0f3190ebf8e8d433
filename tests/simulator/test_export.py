"""The test-case export over real HTTP: its checks, what it answers, and how it follows runs."""

from __future__ import annotations

import json
from collections import Counter
from itertools import pairwise
from typing import Any

import httpx
import pytest

from reconciler.results.findings import fingerprint
from reconciler.simulator.app import UNAUTHORIZED_MESSAGE
from reconciler.simulator.server import SimulatorServer

from .conftest import BODY, HEADERS, KEY, LIMITED_KEY, FakeClock, MakeSim, assert_error

FILTERS: dict[str, Any] = {
    "redTeam": None,
    "result": ["FAILED"],
    "search": None,
    "strategy": None,
    "variation": None,
}
EXPORT_BODY: dict[str, Any] = {"filters": FILTERS, "format": "json"}
PATCH_JSON = {"Content-Type": "application/json-patch+json"}


def export_path(probe_run_id: int | str, workspace: int | str = 1) -> str:
    return f"/api/workspaces/{workspace}/probe-run/{probe_run_id}/test-cases/export"


def export(
    client: httpx.Client, probe_run_id: int | str, workspace: int | str = 1, **filters: Any
) -> httpx.Response:
    body = {"filters": FILTERS | filters, "format": "json"}
    return client.post(
        export_path(probe_run_id, workspace), content=json.dumps(body), headers=PATCH_JSON
    )


def cases(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    document = response.json()
    assert set(document) == {"testCases", "totalCount"}
    assert document["totalCount"] == len(document["testCases"])
    found: list[dict[str, Any]] = document["testCases"]
    return found


def ended_run(
    client: httpx.Client, sim: SimulatorServer, clock: FakeClock, workspace: int = 1, **body: Any
) -> dict[str, Any]:
    """Trigger a run and let it end (rules say how); its status document."""
    response = client.post(f"/api/workspaces/{workspace}/test-run/trigger", json=BODY | body)
    run_id = response.json()["testRunId"]
    clock.advance(10)
    document = client.get(f"/api/v2/test-run/{run_id}/status").json()
    assert document["status"] == "Finished"
    return dict(document)


@pytest.fixture
def sim(make_sim: MakeSim, clock: FakeClock) -> SimulatorServer:
    return make_sim(clock=clock, start_after=0, finish_after=5)


def identities(found: list[dict[str, Any]], probe_id: int) -> set[str]:
    return {
        fingerprint(probe_id, c["attack"], c["variation"], c["strategy"], c["redTeamer"])
        for c in found
    }


# --- what it answers -------------------------------------------------------------------------


def test_failed_test_cases_are_as_many_as_the_status_says(
    sim: SimulatorServer, client: httpx.Client, clock: FakeClock
) -> None:
    sim.set_outcome(name="nightly", failed=7, errored=2)
    document = ended_run(client, sim, clock)
    for probe_run in document["probeRuns"]:
        found = cases(export(client, probe_run["probeRunId"]))
        assert len(found) == probe_run["failedCount"]
        for case in found:
            assert set(case) == {
                "id",
                "attack",
                "variation",
                "strategy",
                "redTeamer",
                "detectionTime",
                "result",
                "messages",
            }
            assert case["result"] == "FAILED"
            assert case["attack"].split("-")[1] == str(probe_run["probeId"])
            assert case["detectionTime"].endswith("Z")
            assert case["detectionTime"] >= document["executionDate"]
            assert [m["role"] for m in case["messages"]][-2:] == ["USER", "ASSISTANT"]
    assert sum(r["failedCount"] for r in document["probeRuns"]) == 7


def test_counts_match_for_every_result_across_many_runs_and_moments(
    sim: SimulatorServer, client: httpx.Client, clock: FakeClock
) -> None:
    # Runs of several sizes, asked while Pending, Running (counts growing), ended and
    # canceled: each result's test cases are always as many as the status document says.
    for failed in range(0, 46, 3):
        sim.set_outcome(name=f"run {failed}", failed=failed, errored=failed % 4)
        client.post("/api/workspaces/1/test-run/trigger", json=BODY | {"name": f"run {failed}"})
        client.post("/api/workspaces/1/test-run/trigger", json=BODY | {"name": f"run {failed}"})
    runs = [run["testRunId"] for run in sim.runs()]
    client.post(f"/api/workspaces/1/test-run/{runs[5]}/cancel")
    seen_ids: set[str] = set()
    for step in (0.0, 1.3, 2.2, 4.0, 6.0):
        clock.advance(step)
        for run_id in runs:
            document = client.get(f"/api/v2/test-run/{run_id}/status").json()
            for probe_run in document["probeRuns"]:
                found = cases(export(client, probe_run["probeRunId"], result=None))
                counted = Counter(case["result"] for case in found)
                assert counted["FAILED"] == probe_run["failedCount"]
                assert counted["ERROR"] == probe_run["errorCount"]
                assert counted["PASSED"] == probe_run["passedCount"]
                ids = [case["id"] for case in found]
                assert len(set(ids)) == len(ids)
                seen_ids.update(ids)
    assert len(seen_ids) > 1000


def test_reruns_of_a_name_share_most_findings_so_new_known_and_fixed_all_occur(
    sim: SimulatorServer, client: httpx.Client, clock: FakeClock
) -> None:
    sim.set_outcome(name="nightly", failed={101: 5})
    history = []
    for _ in range(4):
        document = ended_run(client, sim, clock)
        probe_run = document["probeRuns"][0]
        history.append((probe_run, identities(cases(export(client, probe_run["probeRunId"])), 101)))
        # Another name in between does not move this name's window.
        ended_run(client, sim, clock, name="other")
    for (_, before), (probe_run, after) in pairwise(history):
        assert len(after & before) == 4  # known
        assert len(after - before) == 1  # new
        (fixed,) = before - after
        passed = cases(export(client, probe_run["probeRunId"], result=["PASSED"]))
        assert fixed in identities(passed, 101)  # fixed: it passes now
    assert [run["runNumber"] for run in sim.runs()] == [0, 0, 1, 1, 2, 2, 3, 3]


def test_the_same_run_answers_the_same_test_cases_every_time(
    sim: SimulatorServer, client: httpx.Client, clock: FakeClock
) -> None:
    sim.set_outcome(name="nightly", failed=6, errored=1)
    document = ended_run(client, sim, clock)
    probe_run_id = document["probeRuns"][0]["probeRunId"]
    first = export(client, probe_run_id, result=None).json()
    clock.advance(3600)
    assert export(client, probe_run_id, result=None).json() == first
    assert sim.test_cases(document["testRunId"]) == {
        r["probeRunId"]: cases(
            export(client, r["probeRunId"], result=["FAILED", "ERROR", "PASSED"])
        )
        for r in document["probeRuns"]
    }


def test_filters_narrow_the_answer(
    sim: SimulatorServer, client: httpx.Client, clock: FakeClock
) -> None:
    sim.set_outcome(name="nightly", failed={101: 20}, errored={102: 3})
    document = ended_run(client, sim, clock)
    first, second = (r["probeRunId"] for r in document["probeRuns"])
    every = cases(export(client, first, result=None))
    assert cases(export(client, first, result=[])) == every  # an empty list filters nothing
    assert {c["result"] for c in cases(export(client, second, result=["PASSED", "ERROR"]))} == {
        "PASSED",
        "ERROR",
    }
    strategy = every[0]["strategy"]
    narrowed = cases(export(client, first, result=None, strategy=strategy.upper()))
    assert narrowed and all(c["strategy"] == strategy for c in narrowed) and narrowed != every
    teamers = sorted({c["redTeamer"] for c in every})[:2]
    narrowed = cases(export(client, first, result=None, redTeam=teamers))
    assert {c["redTeamer"] for c in narrowed} == set(teamers)
    variation = every[0]["variation"]
    assert all(
        c["variation"] == variation
        for c in cases(export(client, first, result=None, variation=variation))
    )
    attack = every[3]["attack"]
    assert [c["attack"] for c in cases(export(client, first, result=None, search=attack))] == [
        attack
    ]
    assert cases(export(client, first, result=None, search="no such text")) == []


def test_a_run_not_started_has_no_test_cases_and_a_deleted_one_is_gone(
    make_sim: MakeSim, clock: FakeClock
) -> None:
    sim = make_sim(clock=clock, start_after=5, finish_after=10)
    with httpx.Client(base_url=sim.url, headers=HEADERS) as client:
        run_id = client.post("/api/workspaces/1/test-run/trigger", json=BODY).json()["testRunId"]
        assert cases(export(client, 1, result=None)) == []
        sim.delete_run(run_id)
        assert_error(export(client, 1), 404, "NOT_FOUND")


# --- checks ----------------------------------------------------------------------------------


def test_other_methods_are_405(sim: SimulatorServer, client: httpx.Client) -> None:
    for method in ("GET", "PUT", "DELETE", "PATCH"):
        response = client.request(method, export_path(1))
        assert response.status_code == 405
        assert response.headers["Allow"] == "POST"
        assert response.content == b""


def test_keys_and_workspaces(sim: SimulatorServer, client: httpx.Client, clock: FakeClock) -> None:
    ended_run(client, sim, clock, workspace=7)
    with httpx.Client(base_url=sim.url) as anonymous:
        for headers in ({}, {"X-Api-Key": "wrong"}):
            response = anonymous.post(export_path(1, 7), json=EXPORT_BODY, headers=headers)
            assert assert_error(response, 401, "UNAUTHORIZED")["message"] == UNAUTHORIZED_MESSAGE
        limited = {"X-Api-Key": LIMITED_KEY}
        assert cases(anonymous.post(export_path(1, 7), json=EXPORT_BODY, headers=limited)) == []
        response = anonymous.post(export_path(1, 8), json=EXPORT_BODY, headers=limited)
        assert_error(response, 403, "FORBIDDEN")
        # The run is in workspace 7: asked through another workspace it does not exist.
        response = anonymous.post(export_path(1, 8), json=EXPORT_BODY, headers={"X-Api-Key": KEY})
        assert_error(response, 404, "NOT_FOUND")
    assert_error(export(client, 99, 7), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("workspace", "probe_run", "field"),
    [("x", 1, "workspaceId"), (1, "1.5", "probeRunId"), (1, "2147483648", "probeRunId")],
)
def test_ids_that_are_not_int32_are_400(
    client: httpx.Client, workspace: str | int, probe_run: str | int, field: str
) -> None:
    error = assert_error(export(client, probe_run, workspace), 400, "VALIDATION_ERROR")
    assert set(error["validationErrors"]) == {field}


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json-patch+json",
        "text/json",
        "application/vnd.api+json; charset=utf-8",
    ],
)
def test_the_documented_content_types_are_accepted(client: httpx.Client, content_type: str) -> None:
    client.post("/api/workspaces/1/test-run/trigger", json=BODY)
    body = json.dumps(EXPORT_BODY)
    response = client.post(export_path(1), content=body, headers={"Content-Type": content_type})
    assert cases(response) == []


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/xml", "application/json; charset=latin-1", None]
)
def test_other_content_types_are_415(client: httpx.Client, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post(export_path(1), content=json.dumps(EXPORT_BODY), headers=headers)
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_a_body_over_a_mebibyte_is_413(client: httpx.Client) -> None:
    body = json.dumps({**EXPORT_BODY, "pad": "x" * (1024 * 1024)})
    response = client.post(export_path(1), content=body, headers=PATCH_JSON)
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ("", {"$"}),
        ("{", {"$"}),
        ("[]", {"$"}),
        ('{"filters": {}, "format": "json", "format": "json"}', {"format"}),
        (EXPORT_BODY | {"page": 1}, {"page"}),
        (EXPORT_BODY | {"Format": "json"}, {"Format"}),
        ({"filters": FILTERS}, {"format"}),
        ({"format": "json"}, {"filters"}),
        (EXPORT_BODY | {"format": "csv"}, {"format"}),
        (EXPORT_BODY | {"format": None}, {"format"}),
        (EXPORT_BODY | {"filters": None}, {"filters"}),
        (EXPORT_BODY | {"filters": ["FAILED"]}, {"filters"}),
        (EXPORT_BODY | {"filters": FILTERS | {"result": "FAILED"}}, {"filters.result"}),
        (EXPORT_BODY | {"filters": FILTERS | {"result": ["failed"]}}, {"filters.result[0]"}),
        (
            EXPORT_BODY | {"filters": FILTERS | {"result": ["FAILED", 1, "SKIPPED"]}},
            {"filters.result[1]", "filters.result[2]"},
        ),
        (EXPORT_BODY | {"filters": FILTERS | {"redTeam": 5}}, {"filters.redTeam"}),
        (EXPORT_BODY | {"filters": FILTERS | {"strategy": ["a", 2]}}, {"filters.strategy[1]"}),
        (EXPORT_BODY | {"filters": FILTERS | {"variation": {"a": 1}}}, {"filters.variation"}),
        (EXPORT_BODY | {"filters": FILTERS | {"search": ["x"]}}, {"filters.search"}),
        (EXPORT_BODY | {"filters": FILTERS | {"Result": None}}, {"filters.Result"}),
        (
            {"filters": {"result": ["FAILED"]}, "format": "json"},
            {"filters.redTeam", "filters.search", "filters.strategy", "filters.variation"},
        ),
    ],
)
def test_bodies_it_does_not_accept_are_400_per_field(
    client: httpx.Client, body: str | dict[str, Any], fields: set[str]
) -> None:
    # Checked before the probe run is looked up (model binding comes before the action): an
    # unknown probe run with a bad body is a 400 too.
    client.post("/api/workspaces/1/test-run/trigger", json=BODY)
    text = body if isinstance(body, str) else json.dumps(body)
    for probe_run in (1, 999):
        response = client.post(export_path(probe_run), content=text, headers=PATCH_JSON)
        error = assert_error(response, 400, "VALIDATION_ERROR")
        assert set(error["validationErrors"]) == fields


def test_injected_faults_apply_to_the_export(make_sim: MakeSim) -> None:
    sim = make_sim(error_rate=1.0)
    with httpx.Client(base_url=sim.url, headers=HEADERS) as client:
        assert_error(export(client, 1), 500, "INTERNAL_SERVER_ERROR")
        sim.set_faults(error_rate=0.0, rate_limit_rate=1.0, retry_after=7)
        response = export(client, 1)
        assert_error(response, 429, "TOO_MANY_REQUESTS")
        assert response.headers["Retry-After"] == "7"
    assert [entry.fault for entry in sim.requests()] == ["server_error", "rate_limited"]
