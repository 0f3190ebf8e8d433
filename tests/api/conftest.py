"""Shared helpers for the API client tests: a scripted MockTransport and an instant retry policy."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from reconciler.api.base import CancelOutcome
from reconciler.api.client import ProbeClient
from reconciler.api.retry import RetryPolicy
from tests.factories import attrs

API_KEY = "sk-test-Zq8v2LmN4pR7xT1w"  # distinctive, so a leak search cannot miss it
BASE_URL = "https://probe.test"
RUN_KEY = "chatbot-jailbreak"

#: What the scripted transport does for one request: answer it or raise an httpx error.
Step = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


@dataclass
class Script:
    """A MockTransport handler that plays ``steps`` in order and records every request."""

    steps: list[Step]
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not self.steps:
            raise AssertionError(f"unexpected extra request {request.method} {request.url}")
        step = self.steps.pop(0)
        if isinstance(step, Exception):
            raise step
        if isinstance(step, httpx.Response):
            return step
        return step(request)


@dataclass
class Sleeps:
    """A fake ``sleep`` that records the delays it was asked for."""

    delays: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def reply(status: int, body: Any = None, **headers: str) -> httpx.Response:
    """A canned answer; ``body`` is JSON-encoded unless it is bytes."""
    content = (
        body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
    )
    return httpx.Response(status, content=content, headers=headers)


def error_body(message: str, code: str | None = None, **fields: list[str]) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message}
    if code:
        error["code"] = code
    if fields:
        error["validationErrors"] = fields
    return {"error": error}


#: The standard run of these tests.
RUN_ATTRIBUTES = attrs(name="Nightly jailbreak sweep", run_ai_analysis=True)


def trigger(client: ProbeClient) -> int:
    """Trigger the standard run of these tests."""
    return client.trigger(RUN_ATTRIBUTES, key=RUN_KEY)


def cancel(client: ProbeClient) -> CancelOutcome:
    """Cancel the standard run of these tests (run 5678 of workspace 1234)."""
    return client.cancel(1234, 5678, key=RUN_KEY)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def policy(sleeps: Sleeps) -> RetryPolicy:
    """Four attempts, deterministic delays (no jitter draw), no real sleeping."""
    return RetryPolicy(
        max_attempts=4, base_delay=1.0, max_delay=8.0, sleep=sleeps, random=lambda: 0.0
    )


ClientFactory = Callable[..., tuple[ProbeClient, Script]]


@pytest.fixture
def make_client(policy: RetryPolicy) -> Iterator[ClientFactory]:
    """``make_client(step, step, ...)`` → a client over a MockTransport playing those steps."""
    clients: list[ProbeClient] = []

    def make(*steps: Step, **options: Any) -> tuple[ProbeClient, Script]:
        script = Script(list(steps))
        options.setdefault("retry", policy)
        client = ProbeClient(BASE_URL, API_KEY, transport=httpx.MockTransport(script), **options)
        clients.append(client)
        return client, script

    yield make
    for client in clients:
        client.close()
