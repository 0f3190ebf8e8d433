"""Malformed HTTP (a fuzzer's, a port scanner's): a 400 and one log line, never a traceback."""

from __future__ import annotations

import logging
import socket
import zlib

import pytest

from reconciler.simulator.server import SimulatorServer
from tests.polling import wait_until
from tests.simulator.conftest import KEY, MakeSim

_TRIGGER = (
    b"POST /api/workspaces/1/test-run/trigger HTTP/1.1\r\nHost: sim\r\n"
    b"X-Api-Key: " + KEY.encode() + b"\r\nContent-Type: application/json\r\n"
)

GARBAGE = {
    "not HTTP at all": bytes(range(256)),
    "a TLS client hello": bytes.fromhex("16030102000100020000030300") + b"\x00" * 40,
    "a bad request line": b"GARBAGE\r\n\r\n",
    "an unknown HTTP version": b"GET /_simulator/health HTTP/9.9\r\nHost: sim\r\n\r\n",
    "a header without a colon": b"GET /_simulator/health HTTP/1.1\r\nHost: sim\r\nNo Colon\r\n\r\n",
    "a header line over 8 KiB": b"GET /_simulator/health HTTP/1.1\r\nX-Big: "
    + b"a" * 10_000
    + b"\r\n\r\n",
    "bytes that are not a URL": b"GET /\xff\xfe HTTP/1.1\r\nHost: sim\r\n\r\n",
    "a Content-Length that is not a number": _TRIGGER + b"Content-Length: ten\r\n\r\n{}",
    "Content-Length and Transfer-Encoding": _TRIGGER
    + b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    "a chunk size that is not hex": _TRIGGER + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n",
    "a body that is not the gzip it claims": _TRIGGER
    + b"Content-Encoding: gzip\r\nContent-Length: 10\r\n\r\n0123456789",
    "a body that is not the deflate it claims": _TRIGGER
    + b"Content-Encoding: deflate\r\nContent-Length: 10\r\n\r\n0123456789",
}


def _exchange(sim: SimulatorServer, data: bytes) -> bytes:
    """Send ``data`` on a fresh connection; everything answered until the server closes."""
    port = int(sim.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(data)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


def _refusals(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("what", list(GARBAGE))
def test_malformed_request_gets_400_and_one_line(
    what: str, make_sim: MakeSim, caplog: pytest.LogCaptureFixture
) -> None:
    sim = make_sim()
    caplog.set_level(logging.DEBUG)
    answer = _exchange(sim, GARBAGE[what])
    assert answer.split(b"\r\n", 1)[0].endswith(b" 400 Bad Request"), answer[:200]
    wait_until(lambda: bool(_refusals(caplog)), message="no log line for the refusal")
    [line] = _refusals(caplog)
    assert line.name == "reconciler.simulator"
    assert "refused" in line.getMessage() and "\n" not in line.getMessage()
    assert all(r.exc_info is None for r in caplog.records), "a traceback was logged"
    assert not [e for e in sim.requests() if e.status == 200]  # nothing was triggered
    assert sim.trigger_count() == 0


def test_a_refusal_never_quotes_the_request_bytes(
    make_sim: MakeSim, caplog: pytest.LogCaptureFixture
) -> None:
    # aiohttp's message quotes the offending line; here that line holds the key.
    sim = make_sim()
    answer = _exchange(
        sim, b"GET /_simulator/health HTTP/1.1\r\nX-Api-Key " + KEY.encode() + b"\r\n\r\n"
    )
    assert b" 400 " in answer.split(b"\r\n", 1)[0]
    wait_until(lambda: bool(_refusals(caplog)))
    assert KEY not in caplog.text


def test_a_client_gone_mid_body_is_one_line(
    make_sim: MakeSim, caplog: pytest.LogCaptureFixture
) -> None:
    sim = make_sim()
    port = int(sim.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(_TRIGGER + b"Content-Length: 100\r\n\r\n{}")
        conn.shutdown(socket.SHUT_WR)
        conn.recv(65536)
    wait_until(lambda: bool(_refusals(caplog)), message="no log line for the broken body")
    [line] = _refusals(caplog)
    assert "body cannot be read" in line.getMessage()
    assert all(r.exc_info is None for r in caplog.records)
    assert sim.trigger_count() == 0


def test_an_undecodable_body_is_a_documented_400(make_sim: MakeSim) -> None:
    sim = make_sim()
    answer = _exchange(
        sim, _TRIGGER + b"Content-Encoding: gzip\r\nContent-Length: 10\r\n\r\n0123456789"
    )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"application/json" in head
    assert b'"code": "BAD_REQUEST"' in body


def test_a_real_gzip_body_still_works(make_sim: MakeSim) -> None:
    # The refusal is for broken encodings, not for encoded bodies.
    sim = make_sim()
    body = (
        b'{"targetId":1,"probeIds":[1],"name":"n","notifyWhenFinished":false,"runAiAnalysis":false}'
    )
    packed = zlib.compress(body)
    answer = _exchange(
        sim,
        _TRIGGER
        + b"Content-Encoding: deflate\r\nConnection: close\r\nContent-Length: %d\r\n\r\n"
        % len(packed)
        + packed,
    )
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]
    assert sim.trigger_count() == 1
