"""ProbeClient over httpx.MockTransport: the exact requests, every answer, the retry rules."""

from __future__ import annotations

import json
import logging
import ssl
from typing import Any

import httpx
import pytest

from reconciler.api.base import CancelOutcome
from reconciler.api.client import ProbeClient
from reconciler.api.retry import RetryPolicy
from reconciler.errors import (
    ApiConfigError,
    AuthenticationError,
    NotSentError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimitedError,
    RequestRejectedError,
    ServerError,
    UsageError,
)

from .conftest import API_KEY, ClientFactory, Sleeps, cancel, error_body, reply, trigger

TRIGGER_URL = "https://probe.test/api/workspaces/1234/test-run/trigger"
CANCEL_URL = "https://probe.test/api/workspaces/1234/test-run/5678/cancel"

# Failures after which a trigger may have reached the server.
MAYBE_SENT = [
    httpx.ReadTimeout("timed out"),
    httpx.WriteTimeout("timed out"),
    httpx.RemoteProtocolError("Server disconnected without sending a response."),
    httpx.ReadError("[Errno 104] Connection reset by peer"),
    httpx.WriteError("[Errno 32] Broken pipe"),
]
# Failures that prove the request never left.
NOT_SENT = [
    httpx.ConnectError("[Errno 111] Connection refused"),
    httpx.ConnectError("[Errno -2] Name or service not known"),
    httpx.ConnectTimeout("timed out"),
    httpx.PoolTimeout("timed out"),
]


# --- the requests on the wire ----------------------------------------------------------------


def test_trigger_sends_the_five_fields_as_json_with_the_key(make_client: ClientFactory) -> None:
    client, script = make_client(reply(200, {"testRunId": 987}))

    assert trigger(client) == 987

    (request,) = script.requests
    assert request.method == "POST"
    assert str(request.url) == TRIGGER_URL
    assert request.headers["X-Api-Key"] == API_KEY
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["User-Agent"].startswith("reconciler/")
    assert json.loads(request.content) == {
        "targetId": 42,
        "probeIds": [101, 102],
        "name": "Nightly jailbreak sweep",
        "notifyWhenFinished": False,
        "runAiAnalysis": True,
    }


def test_cancel_posts_without_a_body(make_client: ClientFactory) -> None:
    client, script = make_client(reply(200))

    assert cancel(client) is CancelOutcome.CANCELLED

    (request,) = script.requests
    assert (request.method, str(request.url)) == ("POST", CANCEL_URL)
    assert request.headers["X-Api-Key"] == API_KEY
    assert request.content == b""


def test_a_base_url_path_prefix_is_kept() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return reply(200, {"testRunId": 1})

    transport = httpx.MockTransport(handler)
    with ProbeClient("https://gw.test/probe/", API_KEY, transport=transport) as client:
        trigger(client)
    assert str(requests[0].url) == "https://gw.test/probe/api/workspaces/1234/test-run/trigger"


def test_repr_names_the_server_only() -> None:
    with ProbeClient("https://probe.test", API_KEY) as client:
        assert repr(client) == "ProbeClient(base_url='https://probe.test')"


# --- trigger: answers ------------------------------------------------------------------------


def test_trigger_400_lists_the_validation_errors(make_client: ClientFactory) -> None:
    body = error_body(
        "Validation failed",
        "VALIDATION",
        targetId=["must be positive"],
        probeIds=["must not be empty", "unknown probe 7"],
    )
    client, script = make_client(reply(400, body))

    with pytest.raises(RequestRejectedError) as caught:
        trigger(client)

    err = caught.value
    assert str(err) == (
        "trigger of 'chatbot-jailbreak' (workspace 1234): the API rejected the request "
        "(400 Bad Request): targetId: must be positive; probeIds: must not be empty, unknown "
        "probe 7; the run was not created: fix the spec and run apply again."
    )
    assert err.status == 400
    assert err.validation_errors == {
        "targetId": ["must be positive"],
        "probeIds": ["must not be empty", "unknown probe 7"],
    }
    assert not err.fatal
    assert len(script.requests) == 1


def test_trigger_400_without_fields_shows_the_message(make_client: ClientFactory) -> None:
    client, _ = make_client(reply(400, error_body("Target 42 is archived")))

    with pytest.raises(RequestRejectedError, match="Target 42 is archived; the run was not"):
        trigger(client)


@pytest.mark.parametrize("call", [trigger, cancel])
def test_401_stops_everything_and_blames_the_key(
    make_client: ClientFactory, call: Any, sleeps: Sleeps
) -> None:
    message = "Unauthorized: Authentication is required to access this resource."
    client, script = make_client(reply(401, error_body(message, "UNAUTHORIZED")))

    with pytest.raises(AuthenticationError) as caught:
        call(client)

    assert caught.value.fatal
    text = str(caught.value)
    assert "the API rejected the key in SPLX_API_KEY (401 Unauthorized)" in text
    assert "missing, invalid or expired" in text
    assert "export SPLX_API_KEY" in text
    assert "'chatbot-jailbreak'" in text
    assert len(script.requests) == 1
    assert sleeps.delays == []


@pytest.mark.parametrize("call", [trigger, cancel])
def test_403_stops_everything_and_names_the_workspace(
    make_client: ClientFactory, call: Any
) -> None:
    client, script = make_client(reply(403, error_body("Forbidden")))

    with pytest.raises(PermissionDeniedError) as caught:
        call(client)

    assert caught.value.fatal
    assert "may not act on workspace 1234 (403 Forbidden; the API said: Forbidden)" in str(
        caught.value
    )
    assert len(script.requests) == 1


def test_trigger_404_points_at_the_workspace_and_url(make_client: ClientFactory) -> None:
    client, _ = make_client(reply(404))

    with pytest.raises(RequestRejectedError) as caught:
        trigger(client)

    assert caught.value.status == 404
    assert "check workspaceId 1234 and the API URL https://probe.test" in str(caught.value)


def test_other_4xx_is_a_rejection(make_client: ClientFactory) -> None:
    client, _ = make_client(reply(409, error_body("duplicate")))

    with pytest.raises(RequestRejectedError, match=r"\(409 Conflict\): duplicate") as caught:
        trigger(client)
    assert caught.value.status == 409


@pytest.mark.parametrize("call", [trigger, cancel])
def test_redirects_are_refused_not_followed(make_client: ClientFactory, call: Any) -> None:
    client, script = make_client(reply(301, Location="https://elsewhere.test/api?x=1"))

    with pytest.raises(RequestRejectedError) as caught:
        call(client)

    assert "redirect (301 Moved Permanently to https://elsewhere.test/api?x=1)" in str(caught.value)
    assert "set --api-url" in str(caught.value)
    assert len(script.requests) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_trigger_5xx_is_unknown_and_never_retried(
    make_client: ClientFactory, status: int, sleeps: Sleeps
) -> None:
    client, script = make_client(reply(status, error_body("boom")), reply(200, {"testRunId": 1}))

    with pytest.raises(OutcomeUnknownError) as caught:
        trigger(client)

    text = str(caught.value)
    assert text.startswith(
        f"trigger of 'chatbot-jailbreak' (workspace 1234): the API failed after receiving the "
        f"request (HTTP {status} "
    )
    assert ": boom)" in text
    assert "may or may not have been created" in text
    assert "reconciler import chatbot-jailbreak TEST_RUN_ID" in text
    assert len(script.requests) == 1
    assert sleeps.delays == []


@pytest.mark.parametrize("error", MAYBE_SENT, ids=lambda e: type(e).__name__)
def test_trigger_lost_answer_is_unknown_and_never_retried(
    make_client: ClientFactory, error: Exception, sleeps: Sleeps
) -> None:
    client, script = make_client(error, reply(200, {"testRunId": 1}))

    with pytest.raises(OutcomeUnknownError, match="may or may not have been created"):
        trigger(client)

    assert len(script.requests) == 1
    assert sleeps.delays == []


@pytest.mark.parametrize("status", [201, 202, 204])
def test_trigger_other_success_is_unknown(make_client: ClientFactory, status: int) -> None:
    client, _ = make_client(reply(status, {"testRunId": 1}))

    with pytest.raises(OutcomeUnknownError, match=f"answered {status} .* instead of 200"):
        trigger(client)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b'{"testRunId": 5, "status": "Pending"}', "status: Extra inputs are not permitted"),
        (b'{"testRunId": "5"}', "testRunId: Input should be a valid integer"),
        (b'{"testRunId": 5.0}', "testRunId: Input should be a valid integer"),
        (b'{"testRunId": true}', "testRunId: Input should be a valid integer"),
        (b'{"testRunId": 2147483648}', "testRunId: Input should be less than or equal to"),
        (b'{"testRunId": -2147483649}', "testRunId: Input should be greater than or equal to"),
        (b'{"testRunId": null}', "testRunId: Input should be a valid integer"),
        (b"{}", "testRunId: Field required"),
        (b"[5]", "body: Input should be an object"),
        (b"5", "body: Input should be an object"),
        (b"", "body: Invalid JSON"),
        (b"<html>ok</html>", "body: Invalid JSON"),
    ],
)
def test_trigger_200_with_a_bad_body_is_unknown(
    make_client: ClientFactory, content: bytes, problem: str
) -> None:
    client, script = make_client(reply(200, content))

    with pytest.raises(OutcomeUnknownError) as caught:
        trigger(client)

    assert 'answered 200 but not with {"testRunId": <int32>}' in str(caught.value)
    assert problem in str(caught.value)
    assert len(script.requests) == 1


@pytest.mark.parametrize("run_id", [1, 2**31 - 1])
def test_trigger_accepts_int32_ids(make_client: ClientFactory, run_id: int) -> None:
    client, _ = make_client(reply(200, {"testRunId": run_id}))
    assert trigger(client) == run_id


# --- trigger: retries ------------------------------------------------------------------------


@pytest.mark.parametrize("error", NOT_SENT, ids=lambda e: f"{type(e).__name__}-{e}")
def test_trigger_is_retried_when_nothing_was_sent(
    make_client: ClientFactory, error: Exception, sleeps: Sleeps
) -> None:
    client, script = make_client(error, error, reply(200, {"testRunId": 77}))

    assert trigger(client) == 77
    assert len(script.requests) == 3
    assert sleeps.delays == [1.0, 2.0]


def test_trigger_gives_up_as_not_sent(make_client: ClientFactory, sleeps: Sleeps) -> None:
    refused = httpx.ConnectError("[Errno 111] Connection refused")
    client, script = make_client(refused, refused, refused, refused)

    with pytest.raises(NotSentError) as caught:
        trigger(client)

    assert str(caught.value) == (
        "trigger of 'chatbot-jailbreak' (workspace 1234): could not reach the API at "
        "https://probe.test (could not connect ([Errno 111] Connection refused)) after 4 "
        "attempts; nothing was sent, so the run was not created. Check the API URL (--api-url, "
        "--region, SPLX_API_URL) and the network, then run apply again."
    )
    assert len(script.requests) == 4
    assert sleeps.delays == [1.0, 2.0, 4.0]


def test_a_retried_trigger_that_then_loses_its_answer_is_unknown(
    make_client: ClientFactory,
) -> None:
    client, script = make_client(httpx.ConnectError("refused"), httpx.ReadTimeout("timed out"))

    with pytest.raises(OutcomeUnknownError, match="after the request was sent after 2 attempts"):
        trigger(client)
    assert len(script.requests) == 2


def test_trigger_tls_failure_is_not_retried(make_client: ClientFactory) -> None:
    error = httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    error.__cause__ = ssl.SSLCertVerificationError("certificate verify failed")
    client, script = make_client(error)

    with pytest.raises(NotSentError, match="Check the server's certificate"):
        trigger(client)
    assert len(script.requests) == 1


def test_trigger_is_retried_on_429(make_client: ClientFactory, sleeps: Sleeps) -> None:
    client, script = make_client(reply(429), reply(429), reply(200, {"testRunId": 3}))

    assert trigger(client) == 3
    assert len(script.requests) == 3
    assert sleeps.delays == [1.0, 2.0]


def test_retry_after_seconds_is_honoured(make_client: ClientFactory, sleeps: Sleeps) -> None:
    client, _ = make_client(reply(429, **{"Retry-After": "7"}), reply(200, {"testRunId": 3}))

    assert trigger(client) == 3
    assert sleeps.delays == [7.0]


def test_retry_after_http_date_is_honoured(sleeps: Sleeps, make_client: ClientFactory) -> None:
    # 784111777 is Sun, 06 Nov 1994 08:49:37 GMT; the clock says 12.5 s earlier.
    policy = RetryPolicy(sleep=sleeps, random=lambda: 0.0, clock=lambda: 784111764.5)
    client, _ = make_client(
        reply(429, **{"Retry-After": "Sun, 06 Nov 1994 08:49:37 GMT"}),
        reply(200, {"testRunId": 3}),
        retry=policy,
    )

    assert trigger(client) == 3
    assert sleeps.delays == [12.5]


def test_a_short_retry_after_does_not_shorten_the_backoff(
    make_client: ClientFactory, sleeps: Sleeps
) -> None:
    client, _ = make_client(
        reply(429, **{"Retry-After": "0"}),
        reply(429, **{"Retry-After": "0"}),
        reply(200, {"testRunId": 3}),
    )

    trigger(client)
    assert sleeps.delays == [1.0, 2.0]


def test_a_retry_after_beyond_the_limit_gives_up_at_once(
    make_client: ClientFactory, sleeps: Sleeps
) -> None:
    client, script = make_client(reply(429, **{"Retry-After": "3600"}))

    with pytest.raises(RateLimitedError) as caught:
        trigger(client)

    assert "asked to wait 3600 s, longer than the 60 s limit" in str(caught.value)
    assert "the run was not created" in str(caught.value)
    assert len(script.requests) == 1
    assert sleeps.delays == []


def test_429_until_the_attempts_run_out(make_client: ClientFactory) -> None:
    limited = reply(429, error_body("slow down"))
    client, script = make_client(limited, limited, limited, limited)

    with pytest.raises(RateLimitedError) as caught:
        trigger(client)

    assert str(caught.value) == (
        "trigger of 'chatbot-jailbreak' (workspace 1234): the API is rate limiting requests "
        "(HTTP 429 Too Many Requests: slow down) after 4 attempts; the run was not created. "
        "Run apply again later."
    )
    assert len(script.requests) == 4


def test_backoff_is_capped(sleeps: Sleeps, make_client: ClientFactory) -> None:
    policy = RetryPolicy(
        max_attempts=6, base_delay=1.0, max_delay=3.0, sleep=sleeps, random=lambda: 0.0
    )
    refused = httpx.ConnectError("refused")
    client, _ = make_client(*[refused] * 5, reply(200, {"testRunId": 1}), retry=policy)

    trigger(client)
    assert sleeps.delays == [1.0, 2.0, 3.0, 3.0, 3.0]


def test_one_attempt_disables_retries(sleeps: Sleeps, make_client: ClientFactory) -> None:
    policy = RetryPolicy(max_attempts=1, sleep=sleeps)
    client, script = make_client(httpx.ConnectError("refused"), retry=policy)

    with pytest.raises(NotSentError) as caught:
        trigger(client)
    assert "attempts" not in str(caught.value)
    assert len(script.requests) == 1


# --- cancel ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 202, 204])
def test_cancel_success(make_client: ClientFactory, status: int) -> None:
    client, _ = make_client(reply(status))
    assert cancel(client) is CancelOutcome.CANCELLED


@pytest.mark.parametrize("status", [400, 404])
def test_cancel_with_nothing_left_to_cancel(
    make_client: ClientFactory, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    client, script = make_client(reply(status, error_body("Test run already finished")))

    with caplog.at_level(logging.DEBUG, logger="reconciler.api"):
        assert cancel(client) is CancelOutcome.NOTHING_TO_CANCEL

    assert len(script.requests) == 1
    assert "nothing left to cancel" in caplog.text
    assert "Test run already finished" in caplog.text


TRANSIENT_FOR_CANCEL = [
    reply(500),
    reply(502),
    reply(503, **{"Retry-After": "2"}),
    reply(429),
    *MAYBE_SENT,
    *NOT_SENT,
]


@pytest.mark.parametrize("failure", TRANSIENT_FOR_CANCEL, ids=repr)
def test_cancel_is_retried_on_every_transient_failure(
    make_client: ClientFactory, failure: Any
) -> None:
    client, script = make_client(failure, reply(200))

    assert cancel(client) is CancelOutcome.CANCELLED
    assert len(script.requests) == 2


def test_cancel_5xx_until_the_attempts_run_out(make_client: ClientFactory) -> None:
    client, script = make_client(*[reply(503, error_body("maintenance"))] * 4)

    with pytest.raises(ServerError) as caught:
        cancel(client)

    assert str(caught.value) == (
        "cancel of 'chatbot-jailbreak' (run 5678, workspace 1234): the API failed "
        "(HTTP 503 Service Unavailable: maintenance) after 4 attempts; the run stays in state "
        "and the next apply repeats the cancel, which is safe."
    )
    assert len(script.requests) == 4


def test_cancel_lost_answers_until_the_attempts_run_out(make_client: ClientFactory) -> None:
    client, script = make_client(*[httpx.ReadTimeout("timed out")] * 4)

    with pytest.raises(OutcomeUnknownError, match="the cancel may or may not have taken effect"):
        cancel(client)
    assert len(script.requests) == 4


def test_cancel_never_reaching_the_server(make_client: ClientFactory) -> None:
    client, _ = make_client(*[httpx.ConnectError("refused")] * 4)

    with pytest.raises(NotSentError, match="the run was not cancelled"):
        cancel(client)


def test_cancel_other_4xx_is_a_rejection(make_client: ClientFactory) -> None:
    client, _ = make_client(reply(409, error_body("run is locked")))

    with pytest.raises(RequestRejectedError, match="run is locked; the run was not cancelled"):
        cancel(client)


# --- logging ---------------------------------------------------------------------------------


def test_every_retry_is_logged_with_its_reason(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    client, _ = make_client(
        httpx.ConnectError("[Errno 111] Connection refused"), reply(429), reply(200)
    )

    with caplog.at_level(logging.WARNING, logger="reconciler.api"):
        cancel(client)

    assert [(r.name, r.levelno) for r in caplog.records] == [
        ("reconciler.api", logging.WARNING)
    ] * 2
    first, second = (r.getMessage() for r in caplog.records)
    assert first == (
        "cancel of 'chatbot-jailbreak' (run 5678, workspace 1234): attempt 1 of 4 failed "
        "(could not connect ([Errno 111] Connection refused)); retrying in 1.00 s"
    )
    assert "attempt 2 of 4 failed (HTTP 429 Too Many Requests); retrying in 2.00 s" in second


def test_requests_are_logged_at_debug(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    client, _ = make_client(reply(200, {"testRunId": 1}))

    with caplog.at_level(logging.DEBUG, logger="reconciler.api"):
        trigger(client)

    api_records = [r for r in caplog.records if r.name == "reconciler.api"]
    assert len(api_records) == 1
    assert api_records[0].levelno == logging.DEBUG
    assert (
        api_records[0]
        .getMessage()
        .startswith("POST /api/workspaces/1234/test-run/trigger -> 200 in ")
    )


# --- construction ----------------------------------------------------------------------------


def _refuse(request: httpx.Request) -> httpx.Response:
    raise AssertionError("nothing may be sent")


@pytest.mark.parametrize("env", [{}, {"SPLX_API_KEY": ""}, {"SPLX_API_KEY": "  \n"}])
def test_from_env_without_a_key_fails_before_sending(env: dict[str, str]) -> None:
    with pytest.raises(ApiConfigError, match="SPLX_API_KEY is not set") as caught:
        ProbeClient.from_env(None, None, env, transport=httpx.MockTransport(_refuse))
    assert caught.value.fatal


def test_from_env_refuses_a_key_that_cannot_be_a_header() -> None:
    env = {"SPLX_API_KEY": "abc def\u00e9"}
    with pytest.raises(ApiConfigError, match="spaces, control or non-ASCII") as caught:
        ProbeClient.from_env(None, None, env)
    assert "abc" not in str(caught.value)


def test_from_env_strips_the_key_and_resolves_the_url() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return reply(200)

    env = {"SPLX_API_KEY": f"{API_KEY}\n"}
    transport = httpx.MockTransport(handler)
    with ProbeClient.from_env(None, "us", env, transport=transport) as client:
        assert client.base_url == "https://us.api.probe.splx.ai"
        cancel(client)
    assert requests[0].headers["X-Api-Key"] == API_KEY


def test_from_env_refuses_url_and_region_together() -> None:
    with pytest.raises(UsageError):
        ProbeClient.from_env("https://probe.test", "eu", {"SPLX_API_KEY": API_KEY})


def test_the_constructor_refuses_plain_http_to_a_remote_host() -> None:
    with pytest.raises(ApiConfigError, match=r"refusing plain http:// to probe\.test"):
        ProbeClient("http://probe.test", API_KEY)


def test_max_connections_must_be_positive() -> None:
    with pytest.raises(ApiConfigError, match="max_connections"):
        ProbeClient("https://probe.test", API_KEY, max_connections=0)
