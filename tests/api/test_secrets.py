"""The API key never shows: not in errors, tracebacks, reprs or any log record, on any path.

Every failure path is forced, including servers and libraries that echo the key back, with all
loggers (ours, httpx's, httpcore's) at DEBUG; then every bit of captured text is searched.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from reconciler.api.client import ProbeClient
from reconciler.errors import ApiError
from reconciler.results.model import ProbeRunResult

from .conftest import API_KEY, ClientFactory, Step, cancel, error_body, reply, trigger

ECHO = f"your key {API_KEY} is wrong"


def findings(client: ProbeClient) -> Any:
    probe_run = ProbeRunResult(probe_name="Jailbreak", probe_run_id=77, probe_id=7, status="X")
    return client.export_findings(1234, 5678, probe_run, key="chatbot-jailbreak")


def _echo_headers(request: httpx.Request) -> httpx.Response:
    """A server that echoes the request headers back in its error message."""
    return reply(500, error_body(str(dict(request.headers))))


def _echo_everywhere(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        301,
        headers={"Location": f"https://elsewhere.test/{API_KEY}"},
        extensions={"reason_phrase": ECHO.encode()},
    )


RESPONSES: list[Step] = [
    reply(400, error_body(ECHO, "BAD", **{API_KEY: [ECHO]})),
    reply(401, error_body(ECHO)),
    reply(403, error_body(ECHO)),
    reply(404, error_body(ECHO)),
    reply(409, error_body(ECHO)),
    reply(429, error_body(ECHO), **{"Retry-After": "0"}),
    reply(500, error_body(ECHO)),
    reply(503, ECHO.encode()),
    reply(200, {"testRunId": API_KEY}),
    reply(200, {"testRunId": 1, API_KEY: API_KEY}),
    reply(202, error_body(ECHO)),
    _echo_headers,
    _echo_everywhere,
    # Answers that the export's tolerant parse describes: by keys, size, content type.
    reply(200, {API_KEY: [1], "items": API_KEY}),
    reply(200, f"<html>{ECHO}</html>".encode(), **{"Content-Type": "text/html"}),
    reply(200, ECHO.encode(), **{"Content-Type": f"text/{API_KEY}"}),
    reply(405, error_body(ECHO)),
]
ERRORS: list[Step] = [
    error_type(message)
    for error_type in (
        httpx.ConnectError,
        httpx.ConnectTimeout,
        httpx.PoolTimeout,
        httpx.ReadTimeout,
        httpx.WriteTimeout,
        httpx.RemoteProtocolError,
        httpx.ReadError,
        httpx.WriteError,
        httpx.DecodingError,
    )
    for message in ("plain failure", ECHO)
]


def _texts_of(exc: BaseException) -> list[str]:
    return [
        str(exc),
        repr(exc),
        repr(vars(exc)),
        "".join(traceback.format_exception(exc)),
    ]


def _texts_of_logs(records: list[logging.LogRecord]) -> list[str]:
    texts = []
    for record in records:
        texts += [record.getMessage(), repr(record.args), repr(vars(record))]
        if record.exc_info:
            texts.append("".join(traceback.format_exception(*record.exc_info)))
    return texts


@pytest.mark.parametrize("step", RESPONSES + ERRORS, ids=repr)
@pytest.mark.parametrize("call", [trigger, cancel, findings], ids=["trigger", "cancel", "findings"])
def test_no_failure_path_reveals_the_key(
    make_client: ClientFactory,
    caplog: pytest.LogCaptureFixture,
    step: Step,
    call: Callable[[ProbeClient], Any],
) -> None:
    # The same failure on every attempt, so retries (and their log lines) happen too.
    client, script = make_client(*[step] * 4)
    texts = [repr(client)]

    with caplog.at_level(logging.DEBUG):
        try:
            call(client)
        except ApiError as exc:
            texts += _texts_of(exc)
            # Raised outside any except block: no httpx exception (whose request holds the
            # headers) is reachable from ours.
            assert exc.__cause__ is None
            assert exc.__context__ is None

    assert script.requests[0].headers["X-Api-Key"] == API_KEY  # the key was really in play
    texts += _texts_of_logs(caplog.records)
    assert caplog.records, "expected at least the DEBUG request log"
    leaks = [text for text in texts if API_KEY in text]
    assert leaks == []


def test_config_errors_do_not_reveal_the_key() -> None:
    bad = f"{API_KEY} trailing"
    with pytest.raises(ApiError) as caught:
        ProbeClient.from_env(None, None, {"SPLX_API_KEY": bad})
    assert not any(API_KEY in text for text in _texts_of(caught.value))


def test_the_client_shows_no_key_and_cleans_up_its_log_filters() -> None:
    httpx_logger = logging.getLogger("httpx")
    before = list(httpx_logger.filters)

    client = ProbeClient("https://probe.test", API_KEY)
    assert API_KEY not in repr(client)
    assert API_KEY not in repr(vars(client))
    assert len(httpx_logger.filters) == len(before) + 1

    client.close()
    assert httpx_logger.filters == before
