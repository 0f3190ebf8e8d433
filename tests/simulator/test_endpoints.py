"""The two Probe API endpoints and the inspection endpoints, over real HTTP on loopback."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from reconciler.simulator.app import UNAUTHORIZED_MESSAGE
from reconciler.simulator.server import SimulatorServer
from tests.polling import wait_until

from .conftest import (
    BODY,
    HEADERS,
    KEY,
    LIMITED_KEY,
    FakeClock,
    MakeSim,
    assert_error,
    cancel_path,
    trigger_path,
)


def trigger(client: httpx.Client, workspace: int | str = 1, **changes: Any) -> httpx.Response:
    return client.post(trigger_path(workspace), json={**BODY, **changes})


def run_id(response: httpx.Response) -> int:
    assert response.status_code == 200, response.text
    document = response.json()
    assert set(document) == {"testRunId"}
    assert type(document["testRunId"]) is int
    return int(document["testRunId"])


# --- trigger ---------------------------------------------------------------------------------


def test_trigger_answers_increasing_ids_and_records_the_run(
    client: httpx.Client, sim: SimulatorServer
) -> None:
    first = run_id(trigger(client, 5))
    second = run_id(trigger(client, 5, name="again"))
    assert first == sim.config.first_run_id
    assert second == first + 1
    runs = sim.runs()
    assert [r["testRunId"] for r in runs] == [first, second]
    assert runs[0] | {"createdAt": None} == {
        "testRunId": first,
        "workspaceId": 5,
        "targetId": 42,
        "probeIds": [101, 102],
        "name": "nightly",
        "notifyWhenFinished": False,
        "runAiAnalysis": True,
        "status": "Pending",
        "createdAt": None,
        "canceled": False,
        "endsAt": None,
        "endsAs": "Finished",
        "failed": 0,
        "errored": 0,
        "total": 40,
        "runNumber": 0,
        "failAttacks": [],
        "omitProbeRunId": False,
    }
    assert runs[1]["runNumber"] == 0  # another name
    assert sim.trigger_count() == 2


def test_first_run_id_is_configurable(make_sim: MakeSim) -> None:
    sim = make_sim(first_run_id=77)
    with httpx.Client(base_url=sim.url, headers=HEADERS) as client:
        assert run_id(trigger(client)) == 77


def test_a_duplicate_name_still_creates_a_new_run(client: httpx.Client) -> None:
    assert run_id(trigger(client)) != run_id(trigger(client))


def test_trigger_answer_is_json_utf8(client: httpx.Client) -> None:
    response = trigger(client)
    assert response.headers["content-type"] == "application/json; charset=utf-8"


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json-patch+json", "text/json", "application/vnd.x+json"],
)
def test_four_documented_content_types_are_accepted(
    client: httpx.Client, content_type: str
) -> None:
    response = client.post(
        trigger_path(), content=json.dumps(BODY), headers={"Content-Type": content_type}
    )
    run_id(response)


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", None])
def test_other_content_types_get_415_and_create_nothing(
    client: httpx.Client, sim: SimulatorServer, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post(trigger_path(), content=json.dumps(BODY), headers=headers)
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert sim.trigger_count() == 0


def test_validation_errors_are_400_per_field(client: httpx.Client, sim: SimulatorServer) -> None:
    body = {**BODY, "targetId": True, "probeIds": [1, "2"], "extra": 1}
    del body["name"]
    error = assert_error(client.post(trigger_path(), json=body), 400, "VALIDATION_ERROR")
    assert set(error["validationErrors"]) == {"targetId", "probeIds[1]", "extra", "name"}
    assert sim.trigger_count() == 0


@pytest.mark.parametrize("value", [2**31, "42", 42.0, False])
def test_target_id_must_be_an_int32(client: httpx.Client, value: object) -> None:
    error = assert_error(trigger(client, targetId=value), 400, "VALIDATION_ERROR")
    assert list(error["validationErrors"]) == ["targetId"]


def test_null_probe_ids_are_accepted(client: httpx.Client, sim: SimulatorServer) -> None:
    run_id(trigger(client, probeIds=None))
    assert sim.runs()[0]["probeIds"] is None


def test_malformed_json_is_400(client: httpx.Client) -> None:
    response = client.post(
        trigger_path(), content=b'{"targetId": 1,', headers={"Content-Type": "application/json"}
    )
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert list(error["validationErrors"]) == ["$"]


def test_oversized_body_is_413(client: httpx.Client, sim: SimulatorServer) -> None:
    body = {**BODY, "name": "x" * (1024 * 1024)}
    assert_error(trigger(client, **body), 413, "PAYLOAD_TOO_LARGE")
    assert sim.trigger_count() == 0


@pytest.mark.parametrize("workspace", ["abc", "1.0", "2147483648", "-2147483649", "%20"])
def test_workspace_id_must_be_an_int32(client: httpx.Client, workspace: str) -> None:
    error = assert_error(trigger(client, workspace), 400, "VALIDATION_ERROR")
    assert list(error["validationErrors"]) == ["workspaceId"]


# --- keys ------------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"X-Api-Key": "wrong"}, {"X-Api-Key": ""}])
def test_missing_or_unknown_key_is_401_with_the_documented_body(
    sim: SimulatorServer, headers: dict[str, str]
) -> None:
    for path in (trigger_path(), cancel_path(1000)):
        response = httpx.post(sim.url + path, json=BODY, headers=headers)
        assert response.status_code == 401
        assert response.json() == {
            "error": {"message": UNAUTHORIZED_MESSAGE, "code": "UNAUTHORIZED"}
        }
    assert sim.trigger_count() == 0


def test_key_limited_to_workspaces_gets_403_elsewhere(sim: SimulatorServer) -> None:
    with httpx.Client(base_url=sim.url, headers={"X-Api-Key": LIMITED_KEY}) as limited:
        run = run_id(trigger(limited, 7))
        assert_error(trigger(limited, 8), 403, "FORBIDDEN")
        assert_error(limited.post(cancel_path(run, 8)), 403, "FORBIDDEN")
        assert limited.post(cancel_path(run, 7)).status_code == 200
    assert sim.trigger_count() == 1


def test_401_comes_before_validation(sim: SimulatorServer) -> None:
    response = httpx.post(sim.url + trigger_path("abc"), content=b"junk")
    assert_error(response, 401, "UNAUTHORIZED")


# --- cancel ----------------------------------------------------------------------------------


def test_cancel_of_pending_and_running_runs(
    client: httpx.Client, sim: SimulatorServer, clock: FakeClock
) -> None:
    pending = run_id(trigger(client))
    running = run_id(trigger(client))
    clock.advance(sim.config.start_after)
    assert sim.run_status(pending) == "Running"
    for run in (pending, running):
        response = client.post(cancel_path(run))
        assert response.status_code == 200
        assert response.content == b""
        assert sim.run_status(run) == "Canceled"


def test_cancel_of_a_pending_run(client: httpx.Client, sim: SimulatorServer) -> None:
    run = run_id(trigger(client))
    assert sim.run_status(run) == "Pending"
    assert client.post(cancel_path(run)).status_code == 200


def test_cancel_twice_is_400_the_second_time(client: httpx.Client) -> None:
    run = run_id(trigger(client))
    assert client.post(cancel_path(run)).status_code == 200
    error = assert_error(client.post(cancel_path(run)), 400, "TEST_RUN_NOT_CANCELABLE")
    assert "Canceled" in error["message"]


def test_cancel_unknown_or_other_workspace_is_404(client: httpx.Client) -> None:
    run = run_id(trigger(client, 1))
    assert_error(client.post(cancel_path(run + 1, 1)), 404, "NOT_FOUND")
    assert_error(client.post(cancel_path(run, 2)), 404, "NOT_FOUND")


def test_cancel_with_non_int32_run_id_is_400(client: httpx.Client) -> None:
    error = assert_error(client.post(cancel_path("x")), 400, "VALIDATION_ERROR")
    assert list(error["validationErrors"]) == ["testRunId"]


# --- runs end by themselves --------------------------------------------------------------------


def test_runs_finish_after_the_configured_time(make_sim: MakeSim, clock: FakeClock) -> None:
    sim = make_sim(clock=clock, start_after=1, finish_after=10)
    with httpx.Client(base_url=sim.url, headers=HEADERS) as client:
        run = run_id(trigger(client))
        assert sim.run_status(run) == "Pending"
        clock.advance(1)
        assert sim.run_status(run) == "Running"
        clock.advance(9)
        assert sim.run_status(run) == "Finished"
        error = assert_error(client.post(cancel_path(run)), 400, "TEST_RUN_NOT_CANCELABLE")
        assert "Finished" in error["message"]


def test_runs_never_finish_without_finish_after(sim: SimulatorServer, clock: FakeClock) -> None:
    with httpx.Client(base_url=sim.url, headers=HEADERS) as client:
        run = run_id(trigger(client))
    clock.advance(10**6)
    assert sim.run_status(run) == "Running"


def test_runs_can_end_in_error(make_sim: MakeSim, clock: FakeClock) -> None:
    sim = make_sim(clock=clock, finish_after=5, run_error_rate=1.0)
    with httpx.Client(base_url=sim.url, headers=HEADERS) as client:
        run = run_id(trigger(client))
        clock.advance(5)
        assert sim.run_status(run) == "Error"
        assert_error(client.post(cancel_path(run)), 400, "TEST_RUN_NOT_CANCELABLE")


def test_finishing_uses_the_real_clock_by_default(make_sim: MakeSim) -> None:
    sim = make_sim(start_after=0, finish_after=0.05)
    with httpx.Client(base_url=sim.url, headers=HEADERS) as client:
        run = run_id(trigger(client))
    wait_until(lambda: sim.run_status(run) == "Finished", message="run did not finish by itself")


# --- routing ---------------------------------------------------------------------------------


def test_other_methods_are_405(client: httpx.Client) -> None:
    response = client.get(trigger_path())
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/api/workspaces/1/test-run",
        "/api/workspaces/1/test-run/trigger/",
        "/API/workspaces/1/test-run/trigger",
    ],
)
def test_unknown_paths_are_404_with_empty_body(client: httpx.Client, path: str) -> None:
    response = client.post(path, json=BODY)
    assert response.status_code == 404
    assert response.content == b""


# --- inspection ------------------------------------------------------------------------------


def test_inspection_endpoints_need_no_key_and_show_runs_and_requests(
    client: httpx.Client, sim: SimulatorServer
) -> None:
    run = run_id(trigger(client))
    httpx.post(sim.url + cancel_path(run), headers={"X-Api-Key": "wrong"})
    assert httpx.get(sim.url + "/_simulator/health").json() == {"status": "ok", "triggers": 1}
    runs = httpx.get(sim.url + "/_simulator/runs").json()["runs"]
    assert [(r["testRunId"], r["status"]) for r in runs] == [(run, "Pending")]
    requests = httpx.get(sim.url + "/_simulator/requests").json()["requests"]
    assert [(r["path"], r["status"], r["apiKeyOk"], r["apiKeyLabel"]) for r in requests] == [
        (trigger_path(), 200, True, "all"),
        (cancel_path(run), 401, False, None),
    ]
    assert json.loads(requests[0]["body"]) == BODY
    assert requests[0]["testRunId"] == run


def test_inspection_endpoints_are_read_only(sim: SimulatorServer) -> None:
    for path in ("/_simulator/runs", "/_simulator/requests", "/_simulator/health"):
        assert httpx.post(sim.url + path).status_code == 405
        assert httpx.delete(sim.url + path).status_code == 405


def test_request_log_never_holds_the_key(client: httpx.Client, sim: SimulatorServer) -> None:
    run_id(trigger(client))
    client.post(trigger_path(), json=BODY, headers={"X-Api-Key": "some-wrong-secret"})
    entries = sim.requests()
    assert [(e.api_key_present, e.api_key_ok, e.api_key_label) for e in entries] == [
        (True, True, "all"),
        (True, False, None),
    ]
    assert entries[0].json() == BODY
    dumped = httpx.get(sim.url + "/_simulator/requests").text
    assert KEY not in dumped and "some-wrong-secret" not in dumped
    assert all("x-api-key" not in {h.lower() for h in e.headers} for e in entries)


def test_clear_forgets_runs_and_requests(client: httpx.Client, sim: SimulatorServer) -> None:
    first = run_id(trigger(client))
    sim.clear()
    assert sim.runs() == [] and sim.requests() == [] and sim.trigger_count() == 0
    assert run_id(trigger(client)) == first


def test_request_log_is_bounded(make_sim: MakeSim) -> None:
    sim = make_sim(request_log_limit=3)
    with httpx.Client(base_url=sim.url, headers=HEADERS) as client:
        for _ in range(5):
            run_id(trigger(client))
    assert [e.seq for e in sim.requests()] == [3, 4, 5]
    assert sim.trigger_count() == 5
