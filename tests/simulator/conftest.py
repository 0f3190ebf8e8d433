"""Fixtures: a started simulator per test (configurable), an httpx client, a fake clock."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from reconciler.simulator.config import DEMO_KEY, KeyGrant, SimulatorConfig
from reconciler.simulator.server import SimulatorServer

KEY = "test-key-all"
LIMITED_KEY = "test-key-limited"
HEADERS = {"X-Api-Key": KEY}
BODY: dict[str, Any] = {
    "targetId": 42,
    "probeIds": [101, 102],
    "name": "nightly",
    "notifyWhenFinished": False,
    "runAiAnalysis": True,
}
TEST_KEYS = {
    KEY: KeyGrant(label="all"),
    LIMITED_KEY: KeyGrant(label="limited", workspaces=frozenset({7})),
    DEMO_KEY: KeyGrant(label="demo"),
}


class FakeClock:
    """A monotonic clock the test moves by hand, so run statuses need no sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def trigger_path(workspace: int | str = 1) -> str:
    return f"/api/workspaces/{workspace}/test-run/trigger"


def cancel_path(run_id: int | str, workspace: int | str = 1) -> str:
    return f"/api/workspaces/{workspace}/test-run/{run_id}/cancel"


MakeSim = Callable[..., SimulatorServer]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_sim() -> Iterator[MakeSim]:
    """Start simulators with ``SimulatorConfig`` fields as keyword arguments (plus ``clock``)."""
    started: list[SimulatorServer] = []

    def make(clock: Callable[[], float] | None = None, **config: Any) -> SimulatorServer:
        config.setdefault("keys", TEST_KEYS)
        server = SimulatorServer(SimulatorConfig(**config), clock=clock or time.monotonic).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def sim(make_sim: MakeSim, clock: FakeClock) -> SimulatorServer:
    return make_sim(clock=clock)


@pytest.fixture
def client(sim: SimulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, headers=HEADERS, timeout=60) as http:
        yield http


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The answer has ``status`` and exactly the documented error shape; returns ``error``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    assert set(document) == {"error"}
    error: dict[str, Any] = document["error"]
    assert set(error) <= {"message", "code", "validationErrors"}
    assert isinstance(error["message"], str) and error["message"]
    assert error["code"] == code
    for field, messages in error.get("validationErrors", {}).items():
        assert isinstance(field, str)
        assert messages and all(isinstance(m, str) and m for m in messages)
    return error
