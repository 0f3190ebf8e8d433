"""SimulatorServer.hold/release/idle: the tools tests use to wait on events, not on time."""

from __future__ import annotations

import threading

import httpx

from tests.polling import wait_until
from tests.simulator.conftest import BODY, HEADERS, MakeSim, trigger_path


def test_a_held_request_waits_until_release(make_sim: MakeSim) -> None:
    sim = make_sim()
    sim.hold()
    answers: list[httpx.Response] = []

    def send() -> None:
        answers.append(httpx.post(sim.url + trigger_path(), json=BODY, headers=HEADERS, timeout=60))

    sender = threading.Thread(target=send)
    sender.start()
    wait_until(lambda: len(sim.held()) == 1, message="the request never arrived")
    assert sim.held()[0][0] == trigger_path()
    assert b'"targetId":42' in sim.held()[0][1]
    assert sim.trigger_count() == 0 and not answers  # it waits, untouched
    assert not sim.idle()  # a connection is open and its request unanswered
    sim.release()
    sender.join(60)
    assert answers[0].status_code == 200
    assert sim.trigger_count() == 1
    wait_until(sim.idle, message="the simulator never became idle")
    # The door is open again: the next request is not held.
    assert httpx.post(sim.url + trigger_path(), json=BODY, headers=HEADERS).status_code == 200
    assert len(sim.held()) == 1


def test_inspection_is_never_held(make_sim: MakeSim) -> None:
    sim = make_sim()
    sim.hold()
    assert httpx.get(sim.url + "/_simulator/health", timeout=60).status_code == 200
    assert sim.held() == []
