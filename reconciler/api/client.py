"""``ProbeClient``: the httpx client of the SPLX Probe API, implementing ``ProbeApi``.

Each call sends one request with retries (``retry.py``) and maps the final answer to a return
value or to an ``ApiError`` whose message names the run key and workspace and says what to do:

    answer           trigger                       cancel                      status (a read)
    200              testRunId, strictly validated CANCELLED                   RunResult, validated
    other 2xx        OutcomeUnknownError           CANCELLED                   ServerError
    3xx              RequestRejectedError: redirects are not followed (they would carry
                     the key to another address)
    400              RequestRejectedError + fields NOTHING_TO_CANCEL           RequestRejectedError
    401 / 403        AuthenticationError / PermissionDeniedError: fatal, the command stops
    404              RequestRejectedError          NOTHING_TO_CANCEL           None: the run is gone
    other 4xx        RequestRejectedError
    429              retried, then RateLimitedError
    5xx              OutcomeUnknownError, not      retried, then ServerError   as cancel
                     retried
    never sent       retried, then NotSentError
    sent, no answer  OutcomeUnknownError, not      retried, then               retried, then
                     retried                       OutcomeUnknownError         ServerError

The API key lives in the ``X-Api-Key`` default header of the httpx client and nowhere else that
can be printed: errors and log lines are built only from plain data (``Failure``, ``Answer``),
never from httpx exceptions, requests or headers, and server text is scrubbed of the key.

One ``httpx.Client`` (thread-safe, keep-alive) serves every call, so a ``ProbeClient`` may be
shared by the executor's worker threads; size ``max_connections`` to their number.

``get_report`` (the run's PDF) is a read like status: retried the same way, 200 must carry
``application/pdf`` starting with ``%PDF-``, and every other answer is an ``ApiError``.

``export_findings`` (a probe run's FAILED test cases) is a read like status, sent as ``POST``
with the documented body and ``Content-Type: application/json-patch+json``: retried the same
way; 200 is parsed tolerantly (``findings_wire``), and a 200 with no test cases in it (an HTML
page, not JSON, no list) is a ``ServerError``; 404 and 405 are ``RequestRejectedError``s that
point at ``findingsPath``; a probe run without ``probeRunId`` is a ``NotSentError``.
"""

from __future__ import annotations

import json
import logging
import ssl
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Final

import httpx

from reconciler import __version__, logs
from reconciler.api.base import CancelOutcome
from reconciler.api.calls import (
    FINDINGS_BODY,
    Answer,
    Call,
    Kind,
    give_up,
    refusal,
    transient_failure,
    unknown_outcome,
)
from reconciler.api.endpoints import (
    DEFAULT_FINDINGS_PATH,
    DEFAULT_STATUS_PATH,
    FINDINGS_PATH_ENV,
    cancel_path,
    check_findings_path,
    check_status_path,
    findings_path,
    report_path,
    resolve_base_url,
    status_path,
    trigger_path,
    validate_base_url,
)
from reconciler.api.findings_wire import (
    ExportAnswer,
    FindingsAnswerError,
    parse_export_answer,
)
from reconciler.api.retry import (
    Failure,
    RetryPolicy,
    classify_transport_error,
)
from reconciler.api.wire import (
    StatusAnswerError,
    TriggerAnswerError,
    parse_error_body,
    parse_status_answer,
    parse_trigger_answer,
    sanitise,
)
from reconciler.defaults import API_KEY_ENV
from reconciler.errors import (
    ApiConfigError,
    NotSentError,
    ServerError,
)
from reconciler.records import RunAttributes
from reconciler.redact import RedactingFilter, Redactor
from reconciler.results.findings_read import Finding
from reconciler.results.model import ProbeRunResult, RunResult

LOGGER: Final = logs.logger("reconciler.api")
USER_AGENT: Final = f"reconciler/{__version__}"
#: The first bytes of every PDF file (ISO 32000-1, 7.5.2).
PDF_MAGIC: Final = b"%PDF-"
#: Connect fails fast (a dead host is retried); reads get longer (a trigger does real work).
DEFAULT_TIMEOUT: Final = httpx.Timeout(30.0, connect=10.0)


#: The loggers of the libraries under ProbeClient that may log what a server sent.
_LIBRARY_LOGGERS: Final = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
)


def check_api_key(api_key: str) -> str:
    """The key as it will be sent, or ApiConfigError saying why it cannot be (never echoing it)."""
    if not api_key:
        raise ApiConfigError(
            f"{API_KEY_ENV} is not set: export a SPLX Probe personal access token as "
            f"{API_KEY_ENV} (the key is read only from the environment); nothing was sent."
        )
    if not all("!" <= ch <= "~" for ch in api_key):
        raise ApiConfigError(
            f"{API_KEY_ENV} contains spaces, control or non-ASCII characters, which cannot be "
            "sent in a header; copy the token again and re-export it. Nothing was sent."
        )
    return api_key


def _tls_context_for(base_url: str) -> ssl.SSLContext | bool:
    """httpx's default TLS context loads the CA bundle, about 0.1 s of every command's start.
    A plain-http URL (loopback only, e.g. the simulator) never uses TLS, so it gets a context
    with no CAs: still verifying, so it could never accept a certificate by mistake."""
    if base_url.startswith("http://"):
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return True


class ProbeClient:
    """The Probe API over httpx: ``trigger`` and ``cancel`` with retries and error mapping.

    Build it with ``from_env`` in the CLI; the constructor is for tests and embedding (pass an
    ``httpx.MockTransport`` as ``transport``). Use it as a context manager or call ``close``.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        max_connections: int = 10,
        transport: httpx.BaseTransport | None = None,
        logger: logging.Logger | None = None,
        user_agent: str = USER_AGENT,
        status_path_template: str = DEFAULT_STATUS_PATH,
        findings_path_template: str = DEFAULT_FINDINGS_PATH,
    ) -> None:
        self.base_url = validate_base_url(base_url, source="API URL")
        self.status_path = check_status_path(status_path_template, source="status path")
        self.findings_path = check_findings_path(findings_path_template, source="findings path")
        # Every byte a server sends passes through this before we keep it: a server echoing
        # the key must not make us print or log it. Any length counts, unlike on the terminal.
        self._redact = Redactor([check_api_key(api_key)], shortest=1)
        if max_connections < 1:
            raise ApiConfigError(f"max_connections must be at least 1, not {max_connections}")
        self.retry = retry or RetryPolicy()
        self._log = logger or LOGGER
        self._http = httpx.Client(
            verify=_tls_context_for(base_url),
            headers={"X-Api-Key": api_key, "Accept": "application/json", "User-Agent": user_agent},
            timeout=timeout,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            transport=transport,
            follow_redirects=False,
        )
        # httpx (INFO) and httpcore (DEBUG) log response lines and headers as sent.
        self._log_filter = RedactingFilter(self._redact)
        for name in _LIBRARY_LOGGERS:
            logging.getLogger(name).addFilter(self._log_filter)

    @classmethod
    def from_env(
        cls,
        api_url: str | None,
        region: str | None,
        env: Mapping[str, str],
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        max_connections: int = 10,
        transport: httpx.BaseTransport | None = None,
        logger: logging.Logger | None = None,
        user_agent: str = USER_AGENT,
        status_path_template: str = DEFAULT_STATUS_PATH,
        findings_path_template: str = DEFAULT_FINDINGS_PATH,
    ) -> ProbeClient:
        """A client for the server chosen by flags/``SPLX_API_URL`` and the key in ``env``.

        Raises ``UsageError`` / ``ApiConfigError`` before anything is sent.
        """
        base_url = resolve_base_url(api_url, region, env)
        # Surrounding whitespace is a copy-paste accident (a trailing newline), not the key.
        api_key = env.get(API_KEY_ENV, "").strip()
        return cls(
            base_url,
            api_key,
            timeout=timeout,
            retry=retry,
            max_connections=max_connections,
            transport=transport,
            logger=logger,
            user_agent=user_agent,
            status_path_template=status_path_template,
            findings_path_template=findings_path_template,
        )

    def __repr__(self) -> str:
        return f"ProbeClient(base_url={self.base_url!r})"

    def __enter__(self) -> ProbeClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()
        for name in _LIBRARY_LOGGERS:
            logging.getLogger(name).removeFilter(self._log_filter)

    # --- the endpoints -----------------------------------------------------------------------

    def trigger(self, attributes: RunAttributes, *, key: str) -> int:
        """Trigger one run and return its testRunId; see the module doc for every failure."""
        call = Call(
            Kind.TRIGGER,
            key,
            attributes.workspace_id,
            trigger_path(attributes.workspace_id),
            body=attributes.trigger_body(),
        )
        answer = self._exchange(call)
        if answer.status == 200:
            try:
                return parse_trigger_answer(answer.content)
            except TriggerAnswerError as exc:
                problem = str(exc)
            raise unknown_outcome(
                call, f'the API answered 200 but not with {{"testRunId": <int32>}} ({problem})'
            )
        if 200 <= answer.status < 300:
            raise unknown_outcome(
                call, f"the API answered {answer.status_text} instead of 200 with a run id"
            )
        raise refusal(call, answer, base_url=self.base_url)

    def cancel(self, workspace_id: int, test_run_id: int, *, key: str) -> CancelOutcome:
        """Cancel one run: CANCELLED, or NOTHING_TO_CANCEL when it ended or does not exist."""
        call = Call(
            Kind.CANCEL,
            key,
            workspace_id,
            cancel_path(workspace_id, test_run_id),
            test_run_id=test_run_id,
        )
        answer = self._exchange(call)
        if 200 <= answer.status < 300:
            return CancelOutcome.CANCELLED
        if answer.status in (400, 404):
            self._log.debug(
                "%s: nothing left to cancel (%s: %s)",
                call.what,
                answer.status_text,
                parse_error_body(answer.content).summary() or "no details",
            )
            return CancelOutcome.NOTHING_TO_CANCEL
        raise refusal(call, answer, base_url=self.base_url)

    def get_status(
        self, workspace_id: int, test_run_id: int, *, key: str, seen_at: str
    ) -> RunResult | None:
        """Read one run's status; None when the API answers 404 (the run no longer exists).

        A read is safe to repeat, so it is retried on every transient failure.
        """
        call = Call(
            Kind.STATUS,
            key,
            workspace_id,
            status_path(self.status_path, workspace_id, test_run_id),
            test_run_id=test_run_id,
        )
        answer = self._exchange(call)
        if answer.status == 200:
            try:
                return parse_status_answer(answer.content, test_run_id=test_run_id, seen_at=seen_at)
            except StatusAnswerError as exc:
                raise ServerError(
                    f"{call.what}: the API answered 200 with a document that is not a test-run "
                    f"status ({exc}); {call.not_done}, and nothing is recorded for it. If the "
                    "API moved, check the statusPath setting (reconciler.yaml or "
                    "RECONCILER_STATUS_PATH)."
                ) from None
        if answer.status == 404:
            return None
        if 200 <= answer.status < 300:
            raise ServerError(
                f"{call.what}: the API answered {answer.status_text} instead of 200 with a "
                f"status; {call.not_done}."
            )
        raise refusal(call, answer, base_url=self.base_url)

    def get_report(self, workspace_id: int, test_run_id: int, *, key: str) -> bytes:
        """Download one ended run's PDF report (``GET /api/v2/test-run/{id}/report``).

        A read, retried like ``get_status``. The answer must be ``application/pdf`` and start
        with ``%PDF-``: anything else (an HTML error page, JSON) raises ``ServerError`` rather
        than being saved under a .pdf name. A 404 or a run not ended is ``RequestRejectedError``.
        """
        call = Call(
            Kind.REPORT,
            key,
            workspace_id,
            report_path(test_run_id),
            test_run_id=test_run_id,
        )
        answer = self._exchange(call)
        if answer.status == 200:
            media_type = answer.content_type.partition(";")[0].strip().lower()
            if media_type != "application/pdf" or not answer.content.startswith(PDF_MAGIC):
                raise ServerError(
                    f"{call.what}: the API answered 200 with "
                    f"{media_type or 'no content type'} that is not a PDF "
                    f"({len(answer.content)} bytes); {call.not_done}."
                )
            return answer.content
        if 200 <= answer.status < 300:
            raise ServerError(
                f"{call.what}: the API answered {answer.status_text} instead of 200 with a "
                f"PDF; {call.not_done}."
            )
        raise refusal(call, answer, base_url=self.base_url)

    def export_findings(
        self, workspace_id: int, test_run_id: int, probe_run: ProbeRunResult, *, key: str
    ) -> list[Finding]:
        """The FAILED test cases of one probe run as ``Finding``s (``FindingsApi``).

        ``POST`` to the export with the documented body; a read, so retried like ``get_status``.
        Unlike status, a 404 is an error (the probe run of a run that exists is unknown, or the
        path is wrong), and so is every 200 whose body holds no test cases (``findings_wire``).
        A probe run without ``probeRunId`` is refused before anything is sent.
        """
        call = Call(
            Kind.FINDINGS,
            key,
            workspace_id,
            ""
            if probe_run.probe_run_id is None
            else findings_path(self.findings_path, workspace_id, probe_run.probe_run_id),
            body=FINDINGS_BODY,
            test_run_id=test_run_id,
            probe_run=probe_run,
        )
        if probe_run.probe_run_id is None:
            raise NotSentError(
                f"{call.what}: the status document gave this probe run no probeRunId, so its "
                f"test cases cannot be asked for; nothing was sent and {call.not_done}. The ended "
                "run's status is not read again: see its test cases in the SPLX Probe UI."
            )
        answer = self._exchange(call)
        if answer.status == 200:
            try:
                parsed = parse_export_answer(
                    answer.content, content_type=answer.content_type, probe_run=probe_run
                )
            except FindingsAnswerError as exc:
                problem = str(exc)
            else:
                return self._parsed(call, probe_run, parsed)
            # Raised outside the except block, so no parse error hangs on ours as context.
            raise ServerError(
                f"{call.what}: the API answered 200 with {problem}; {call.not_done}. If the API "
                f"moved, check the findingsPath setting (reconciler.yaml or {FINDINGS_PATH_ENV})."
            )
        if 200 <= answer.status < 300:
            raise ServerError(
                f"{call.what}: the API answered {answer.status_text} instead of 200 with test "
                f"cases; {call.not_done}."
            )
        raise refusal(call, answer, base_url=self.base_url)

    def _parsed(self, call: Call, probe_run: ProbeRunResult, parsed: ExportAnswer) -> list[Finding]:
        # Names only: the values are attack prompts, answers and other untrusted content.
        self._log.debug(
            "%s: %d test cases, %d FAILED (the status said %d), %d others dropped; "
            "fields of the first: %s",
            call.what,
            parsed.test_cases,
            len(parsed.findings),
            probe_run.counts.failed,
            parsed.dropped,
            ", ".join(parsed.first_fields) or "none",
        )
        return parsed.findings

    # --- sending with retries ----------------------------------------------------------------

    def _exchange(self, call: Call) -> Answer:
        """Send ``call`` until it gets a non-transient answer or the retry policy gives up."""
        attempt = 0
        while True:
            attempt += 1
            outcome = self._attempt(call)
            if isinstance(outcome, Answer):
                if not outcome.transient:
                    return outcome
                failure = transient_failure(outcome, self.retry.clock())
            else:
                failure = outcome
            delay = self.retry.next_delay(failure, attempt, idempotent=call.idempotent)
            if delay is None:
                raise give_up(
                    call,
                    failure,
                    attempt,
                    base_url=self.base_url,
                    max_retry_after=self.retry.max_retry_after,
                )
            self._log.warning(
                "%s: attempt %d of %d failed (%s); retrying in %.2f s",
                call.what,
                attempt,
                self.retry.max_attempts,
                failure.reason,
                delay,
            )
            self.retry.sleep(delay)

    def _send(self, call: Call) -> httpx.Response:
        if call.content_type is None:
            return self._http.request(
                call.method,
                self.base_url + call.path,
                json=call.body,
                headers={"Accept": call.accept},
            )
        return self._http.request(
            call.method,
            self.base_url + call.path,
            content=json.dumps(call.body).encode(),
            headers={"Accept": call.accept, "Content-Type": call.content_type},
        )

    def _attempt(self, call: Call) -> Answer | Failure:
        """One request. Returns plain data only: httpx objects carry the key in their headers."""
        started = time.monotonic()
        try:
            response = self._send(call)
        except httpx.RequestError as exc:
            failure = classify_transport_error(exc)
            reason = self._redact(failure.reason)
            self._log.debug(
                "%s %s failed after %.3f s: %s",
                call.method,
                call.path,
                time.monotonic() - started,
                reason,
            )
            return Failure(failure.delivery, reason, permanent=failure.permanent)
        self._log.debug(
            "%s %s -> %d in %.3f s",
            call.method,
            call.path,
            response.status_code,
            time.monotonic() - started,
        )
        return Answer(
            status=response.status_code,
            phrase=self._redact(sanitise(response.reason_phrase)),
            content=self._redact.redact_bytes(response.content),
            retry_after=response.headers.get("Retry-After"),
            location=self._redact(response.headers.get("Location", "")) or None,
            content_type=self._redact(sanitise(response.headers.get("Content-Type", ""))),
        )
