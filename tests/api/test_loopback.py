"""ProbeClient against real sockets on 127.0.0.1: canned answers, a dropped connection, a
server that never answers, and a port nobody listens on."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from reconciler.api.base import CancelOutcome
from reconciler.api.client import ProbeClient
from reconciler.api.retry import RetryPolicy
from reconciler.errors import NotSentError, OutcomeUnknownError, RequestRejectedError

from .conftest import API_KEY, RUN_ATTRIBUTES, Sleeps, cancel, error_body, trigger


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """httpx honours proxy variables; loopback traffic must not go through one."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    port: int


@dataclass
class Canned:
    """What the canned server answers (the same to every request) and what it saw."""

    status: int = 200
    body: Any = None
    reason: str | None = None
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_id: int = 1000


def _serve_canned(canned: Canned) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the real API

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with canned.lock:
                canned.seen.append(
                    Seen("POST", self.path, dict(self.headers), body, self.client_address[1])
                )
                canned.next_id += 1
                run_id = canned.next_id
            answer = canned.body
            if answer == "next-id":
                answer = {"testRunId": run_id}
            elif answer == "echo-headers":
                answer = error_body(str(dict(self.headers)))
            content = b"" if answer is None else json.dumps(answer).encode()
            self.send_response(canned.status, canned.reason)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    return Handler


@pytest.fixture
def canned() -> Iterator[tuple[Canned, str]]:
    state = Canned()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _serve_canned(state))
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


@dataclass
class Silent:
    """A raw socket server that reads each request, then drops it or just never answers."""

    drop: bool
    accepted: int = 0


def _read_request(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    while len(body) < length:
        body += conn.recv(65536)


@pytest.fixture
def silent_server(request: pytest.FixtureRequest) -> Iterator[tuple[Silent, str]]:
    state = Silent(drop=request.param)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()
    held: list[socket.socket] = []

    def run() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            state.accepted += 1
            _read_request(conn)
            if state.drop:
                conn.close()
            else:
                held.append(conn)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


@pytest.fixture
def fast_policy(sleeps: Sleeps) -> RetryPolicy:
    return RetryPolicy(max_attempts=4, base_delay=0.01, sleep=sleeps, random=lambda: 0.0)


def test_trigger_over_a_real_socket(canned: tuple[Canned, str], fast_policy: RetryPolicy) -> None:
    state, url = canned
    state.body = "next-id"

    with ProbeClient(url, API_KEY, retry=fast_policy) as client:
        first, second = trigger(client), trigger(client)

    assert (first, second) == (1001, 1002)
    seen = state.seen[0]
    assert seen.path == "/api/workspaces/1234/test-run/trigger"
    assert seen.headers["X-Api-Key"] == API_KEY
    assert seen.headers["Content-Type"] == "application/json"
    assert json.loads(seen.body) == RUN_ATTRIBUTES.trigger_body()
    # keep-alive: the second request came over the same connection
    assert state.seen[0].port == state.seen[1].port


def test_a_real_400_lists_the_fields(canned: tuple[Canned, str], fast_policy: RetryPolicy) -> None:
    state, url = canned
    state.status, state.body = 400, error_body("invalid", targetId=["must be positive"])

    with (
        ProbeClient(url, API_KEY, retry=fast_policy) as client,
        pytest.raises(RequestRejectedError, match="targetId: must be positive"),
    ):
        trigger(client)


def test_a_real_404_on_cancel_is_nothing_to_cancel(
    canned: tuple[Canned, str], fast_policy: RetryPolicy
) -> None:
    state, url = canned
    state.status = 404

    with ProbeClient(url, API_KEY, retry=fast_policy) as client:
        assert cancel(client) is CancelOutcome.NOTHING_TO_CANCEL


def test_parallel_triggers_share_one_client(
    canned: tuple[Canned, str], fast_policy: RetryPolicy
) -> None:
    state, url = canned
    state.body = "next-id"
    ids: list[int] = []

    with ProbeClient(url, API_KEY, retry=fast_policy, max_connections=4) as client:
        threads = [threading.Thread(target=lambda: ids.append(trigger(client))) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert sorted(ids) == list(range(1001, 1017))
    assert len({seen.port for seen in state.seen}) <= 4


@pytest.mark.parametrize("silent_server", [True], indirect=True)
def test_a_dropped_trigger_is_unknown_and_not_retried(
    silent_server: tuple[Silent, str], fast_policy: RetryPolicy, sleeps: Sleeps
) -> None:
    state, url = silent_server

    with (
        ProbeClient(url, API_KEY, retry=fast_policy) as client,
        pytest.raises(OutcomeUnknownError, match="may or may not have been created"),
    ):
        trigger(client)

    assert state.accepted == 1
    assert sleeps.delays == []


@pytest.mark.parametrize("silent_server", [True], indirect=True)
def test_a_dropped_cancel_is_retried(
    silent_server: tuple[Silent, str], fast_policy: RetryPolicy
) -> None:
    state, url = silent_server

    with (
        ProbeClient(url, API_KEY, retry=fast_policy) as client,
        pytest.raises(OutcomeUnknownError, match="after 4 attempts; the cancel may or may not"),
    ):
        cancel(client)

    assert state.accepted == 4


@pytest.mark.parametrize("silent_server", [False], indirect=True)
def test_a_trigger_without_an_answer_times_out_as_unknown(
    silent_server: tuple[Silent, str], fast_policy: RetryPolicy
) -> None:
    state, url = silent_server
    timeout = httpx.Timeout(5.0, read=0.2)

    with (
        ProbeClient(url, API_KEY, retry=fast_policy, timeout=timeout) as client,
        pytest.raises(
            OutcomeUnknownError, match="read timeout: no answer came in time after the request"
        ),
    ):
        trigger(client)

    assert state.accepted == 1


def test_a_refused_port_is_not_sent(fast_policy: RetryPolicy, sleeps: Sleeps) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    # Nothing listens on ``port`` now.

    client = ProbeClient(f"http://127.0.0.1:{port}", API_KEY, retry=fast_policy)
    with client, pytest.raises(NotSentError, match="after 4 attempts; nothing was sent") as caught:
        trigger(client)

    assert "the run was not created" in str(caught.value)
    assert len(sleeps.delays) == 3


def test_library_logs_over_a_real_socket_never_show_the_key(
    canned: tuple[Canned, str], fast_policy: RetryPolicy, caplog: pytest.LogCaptureFixture
) -> None:
    state, url = canned
    state.status, state.body, state.reason = 500, "echo-headers", f"echo {API_KEY}"

    client = ProbeClient(url, API_KEY, retry=fast_policy)
    with caplog.at_level(logging.DEBUG), client, pytest.raises(OutcomeUnknownError) as caught:
        trigger(client)

    assert API_KEY in state.seen[0].headers["X-Api-Key"]
    assert any(record.name.startswith("httpcore") for record in caplog.records)
    assert API_KEY not in caplog.text
    assert API_KEY not in str(caught.value)
    assert "***" in str(caught.value)
