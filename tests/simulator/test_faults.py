"""Injected faults: latency, 500s, 429 with Retry-After, answers lost after a trigger."""

from __future__ import annotations

import time

import httpx
import pytest

from reconciler.simulator.server import SimulatorServer

from .conftest import BODY, HEADERS, MakeSim, assert_error, cancel_path, trigger_path


def statuses(sim: SimulatorServer, count: int) -> list[int]:
    with httpx.Client(base_url=sim.url, headers=HEADERS) as client:
        return [client.post(trigger_path(), json=BODY).status_code for _ in range(count)]


def test_latency_delays_api_answers_but_not_inspection(make_sim: MakeSim) -> None:
    sim = make_sim(latency=0.2)
    started = time.monotonic()
    assert httpx.post(sim.url + trigger_path(), json=BODY, headers=HEADERS).status_code == 200
    assert time.monotonic() - started >= 0.2
    # The inspection endpoints answer without the injected latency: a generous bound, about
    # "not delayed by 60 s", not about speed.
    sim.set_faults(latency=60.0)
    started = time.monotonic()
    assert httpx.get(sim.url + "/_simulator/runs", timeout=30).status_code == 200
    assert time.monotonic() - started < 10


def test_error_rate_answers_a_share_with_500_and_creates_nothing(make_sim: MakeSim) -> None:
    sim = make_sim(error_rate=0.3, seed=7)
    answers = statuses(sim, 200)
    errors = answers.count(500)
    assert 30 <= errors <= 90
    assert answers.count(200) == 200 - errors
    assert sim.trigger_count() == 200 - errors
    faults = [e.fault for e in sim.requests() if e.status == 500]
    assert faults == ["server_error"] * errors


def test_a_seed_makes_faults_repeatable(make_sim: MakeSim) -> None:
    first = statuses(make_sim(error_rate=0.5, seed=3), 40)
    second = statuses(make_sim(error_rate=0.5, seed=3), 40)
    third = statuses(make_sim(error_rate=0.5, seed=4), 40)
    assert first == second
    assert first != third


def test_injected_500_has_the_documented_shape(make_sim: MakeSim) -> None:
    sim = make_sim(error_rate=1.0)
    response = httpx.post(sim.url + cancel_path(1), headers=HEADERS)
    assert_error(response, 500, "INTERNAL_SERVER_ERROR")


def test_rate_limit_answers_429_with_retry_after(make_sim: MakeSim) -> None:
    sim = make_sim(rate_limit_rate=1.0, retry_after=7)
    response = httpx.post(sim.url + trigger_path(), json=BODY, headers=HEADERS)
    assert_error(response, 429, "TOO_MANY_REQUESTS")
    assert response.headers["retry-after"] == "7"
    assert sim.trigger_count() == 0


def test_dropped_connection_after_the_run_was_created(make_sim: MakeSim) -> None:
    sim = make_sim(drop_after_trigger_rate=1.0)
    with pytest.raises(httpx.TransportError):
        httpx.post(sim.url + trigger_path(), json=BODY, headers=HEADERS)
    runs = httpx.get(sim.url + "/_simulator/runs").json()["runs"]
    assert len(runs) == 1 and runs[0]["name"] == BODY["name"]
    (entry,) = sim.requests()
    assert (entry.fault, entry.status, entry.test_run_id) == ("dropped", None, runs[0]["testRunId"])


def test_error_after_trigger_creates_the_run_and_answers_500(make_sim: MakeSim) -> None:
    sim = make_sim(error_after_trigger_rate=1.0)
    response = httpx.post(sim.url + trigger_path(), json=BODY, headers=HEADERS)
    assert_error(response, 500, "INTERNAL_SERVER_ERROR")
    assert sim.trigger_count() == 1


def test_drops_apply_to_triggers_only(make_sim: MakeSim) -> None:
    sim = make_sim(drop_after_trigger_rate=1.0)
    assert httpx.post(sim.url + cancel_path(1), headers=HEADERS).status_code == 404


def test_faults_change_at_runtime(make_sim: MakeSim) -> None:
    sim = make_sim()
    assert statuses(sim, 3) == [200, 200, 200]
    sim.set_faults(rate_limit_rate=1.0, retry_after=2)
    assert statuses(sim, 2) == [429, 429]
    sim.set_faults(rate_limit_rate=0.0)
    assert statuses(sim, 1) == [200]
    with pytest.raises(TypeError, match="keys"):
        sim.set_faults(keys={})


def test_reconfigure_keeps_runs_and_a_new_seed_restarts_the_dice(make_sim: MakeSim) -> None:
    sim = make_sim(first_run_id=10)
    sim.reconfigure(first_run_id=20)  # no run yet: the new first id applies
    assert statuses(sim, 1) == [200]
    sim.reconfigure(first_run_id=30, request_log_limit=5)  # runs exist: ids continue
    with httpx.Client(base_url=sim.url, headers=HEADERS) as client:
        assert client.post(trigger_path(), json=BODY).json() == {"testRunId": 21}
    sim.reconfigure(error_rate=0.5, seed=11)
    first = statuses(sim, 20)
    sim.reconfigure(seed=12)
    sim.reconfigure(seed=11)
    assert statuses(sim, 20) == first
    assert len(sim.requests()) == 5
