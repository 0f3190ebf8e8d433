"""A status endpoint over an in-process transport, for the command tests that read status
before the simulator answers every case (malformed documents, chosen faults)."""

from __future__ import annotations

import threading
from typing import Any

import httpx

from reconciler.api.client import ProbeClient
from reconciler.api.retry import RetryPolicy
from reconciler.commands.common import Session, Settings

API_KEY = "sk-status-test-7Hq2"
PLATFORM = "https://ui.probe.test"

Answer = httpx.Response | Exception


def status_doc(
    run_id: int,
    status: str = "Running",
    *,
    failed: int = 0,
    errored: int = 0,
    total: int = 10,
    probe_ids: tuple[int, ...] = (101, 102),
) -> dict[str, Any]:
    """The documented status document (api/README.md); the first probe run carries the
    failures."""
    return {
        "testRunId": run_id,
        "executionDate": "2024-05-01T12:00:01Z",
        "status": status,
        "probeRuns": [
            {
                "probeName": f"Probe {probe}",
                "probeRunId": run_id * 10 + i,
                "probeId": probe,
                "totalCount": total,
                "passedCount": total - (failed + errored if i == 0 else 0),
                "failedCount": failed if i == 0 else 0,
                "errorCount": errored if i == 0 else 0,
                "status": status,
            }
            for i, probe in enumerate(probe_ids)
        ],
    }


def ok(document: Any) -> httpx.Response:
    return httpx.Response(200, json=document)


class StatusServer:
    """A MockTransport handler: per run id, a list of answers played in order (the last one
    repeats); records every run id asked about."""

    def __init__(self, answers: dict[int, list[Answer]]) -> None:
        self.answers = answers
        self.asked: list[int] = []
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        run_id = int(request.url.path.rstrip("/").split("/")[-2])
        with self._lock:
            self.asked.append(run_id)
            queue = self.answers[run_id]
            answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


class ScriptedSession(Session):
    """A CLI session whose client talks to ``server`` through an in-process transport."""

    def __init__(self, settings: Settings, server: StatusServer) -> None:
        super().__init__(settings)
        self.server = server

    def client(self, *, parallelism: int) -> ProbeClient:
        return ProbeClient(
            "https://probe.test",
            API_KEY,
            transport=httpx.MockTransport(self.server),
            retry=RetryPolicy(max_attempts=2, base_delay=0, max_delay=0, sleep=lambda _s: None),
            max_connections=parallelism,
            status_path_template=self.status_path(),
        )
