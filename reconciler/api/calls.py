"""What one call of the Probe API is, and how each way it can end badly reads to the user.

``ProbeClient`` (``client.py``) sends the requests and retries them; this module holds the
plain data a call and its answer are reduced to (``Call``, ``Answer``: no httpx objects and no
headers, so nothing here can print the key), and turns a final answer other than success into
the ``ApiError`` whose message names the run key and workspace and says what to do
(``client.py``'s docstring has the table of answers and errors).
"""

from __future__ import annotations

import enum
import shlex
from dataclasses import dataclass
from typing import Any, Final

from reconciler.api.endpoints import FINDINGS_PATH_ENV
from reconciler.api.retry import Delivery, Failure, parse_retry_after
from reconciler.api.wire import parse_error_body, sanitise
from reconciler.defaults import API_KEY_ENV
from reconciler.errors import (
    ApiError,
    AuthenticationError,
    NotSentError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimitedError,
    RequestRejectedError,
    ServerError,
)
from reconciler.results.findings import FAILED
from reconciler.results.model import ProbeRunResult


class Kind(enum.Enum):
    """Which operation a call is."""

    TRIGGER = "trigger"
    CANCEL = "cancel"
    STATUS = "status"
    REPORT = "report"
    FINDINGS = "findings"


#: The export's body exactly as the vendor documents it: FAILED test cases, as JSON.
FINDINGS_BODY: Final[dict[str, Any]] = {
    "filters": {
        "redTeam": None,
        "result": [FAILED],
        "search": None,
        "strategy": None,
        "variation": None,
    },
    "format": "json",
}
#: The export's documented request content type (the body is plain JSON nonetheless).
FINDINGS_CONTENT_TYPE: Final = "application/json-patch+json"


@dataclass(frozen=True)
class Call:
    """One API operation on one run, with the words its messages need."""

    kind: Kind
    key: str
    workspace_id: int
    path: str
    body: dict[str, Any] | None = None
    test_run_id: int | None = None
    probe_run: ProbeRunResult | None = None

    @property
    def idempotent(self) -> bool:
        return self.kind is not Kind.TRIGGER

    @property
    def method(self) -> str:
        # The export is a read sent as POST: its filters travel in the body.
        return "GET" if self.read and self.kind is not Kind.FINDINGS else "POST"

    @property
    def content_type(self) -> str | None:
        """The body's content type when it is not httpx's ``application/json``."""
        return FINDINGS_CONTENT_TYPE if self.kind is Kind.FINDINGS else None

    @property
    def accept(self) -> str:
        return "application/pdf" if self.kind is Kind.REPORT else "application/json"

    @property
    def what(self) -> str:
        if self.kind is Kind.TRIGGER:
            return f"trigger of {self.key!r} (workspace {self.workspace_id})"
        if self.probe_run is not None:
            probe_run_id = self.probe_run.probe_run_id
            return (
                f"findings of {self.key!r} (run {self.test_run_id}, probe "
                f"{self.probe_run.probe_name!r}, probe run "
                f"{'without id' if probe_run_id is None else probe_run_id}, "
                f"workspace {self.workspace_id})"
            )
        return (
            f"{self.kind.value} of {self.key!r} (run {self.test_run_id}, "
            f"workspace {self.workspace_id})"
        )

    @property
    def not_done(self) -> str:
        if self.kind is Kind.STATUS:
            return "its status was not read"
        if self.kind is Kind.REPORT:
            return "its PDF report was not downloaded"
        if self.kind is Kind.FINDINGS:
            return "its findings were not read"
        return "the run was not " + ("created" if self.kind is Kind.TRIGGER else "cancelled")

    @property
    def again(self) -> str:
        """The command to run again once the cause is fixed."""
        return "try again (a read is safe to repeat)" if self.read else "run apply again"

    @property
    def stops(self) -> str:
        return "nothing more is read" if self.read else "the apply stops here"

    @property
    def read(self) -> bool:
        return self.kind in (Kind.STATUS, Kind.REPORT, Kind.FINDINGS)

    @property
    def unknown(self) -> str:
        """What an unknown outcome means for this call, and what the user does about it."""
        if self.kind is Kind.TRIGGER:
            return (
                "the run may or may not have been created, so it is recorded as unknown and "
                "not triggered again. Look for it in the SPLX Probe UI, then run "
                f"`reconciler import {shlex.quote(self.key)} TEST_RUN_ID`, or "
                f"`reconciler state rm {shlex.quote(self.key)}` "
                "if it is not there."
            )
        return (
            "the cancel may or may not have taken effect; the run stays in state and the next "
            "apply repeats the cancel, which is safe."
        )


@dataclass(frozen=True)
class Answer:
    """An HTTP answer reduced to what the mapping reads (no httpx objects, no headers we sent)."""

    status: int
    phrase: str
    content: bytes
    retry_after: str | None
    location: str | None
    content_type: str = ""

    @property
    def status_text(self) -> str:
        return f"{self.status} {self.phrase}".strip()

    @property
    def transient(self) -> bool:
        return self.status == 429 or self.status >= 500


# --- mapping answers to errors -----------------------------------------------------------


def give_up(
    call: Call, failure: Failure, attempts: int, *, base_url: str, max_retry_after: float
) -> ApiError:
    """The error for a transient failure that will not be retried (again)."""
    after = f" after {attempts} attempts" if attempts > 1 else ""
    said = f": {failure.server_message}" if failure.server_message else ""
    if failure.status == 429:
        waited = ""
        if failure.retry_after is not None and failure.retry_after > max_retry_after:
            waited = (
                f"; it asked to wait {failure.retry_after:.0f} s, longer than the "
                f"{max_retry_after:.0f} s limit"
            )
        return RateLimitedError(
            f"{call.what}: the API is rate limiting requests ({failure.reason}{said})"
            f"{after}{waited}; {call.not_done}. {call.again.capitalize()} later."
        )
    if call.read and failure.delivery is not Delivery.NOT_SENT:
        # A read changes nothing, so whether it arrived does not matter: it just failed.
        return ServerError(
            f"{call.what}: the API failed ({failure.reason}{said}){after}; "
            f"{call.not_done}, and nothing is recorded for it. Try again later (a read is "
            "safe to repeat)."
        )
    if failure.delivery is Delivery.ANSWERED:
        if call.kind is Kind.TRIGGER:
            return unknown_outcome(
                call, f"the API failed after receiving the request ({failure.reason}{said})"
            )
        return ServerError(
            f"{call.what}: the API failed ({failure.reason}{said}){after}; the run stays in "
            "state and the next apply repeats the cancel, which is safe."
        )
    if failure.delivery is Delivery.NOT_SENT:
        hint = (
            "Check the server's certificate (and SSL_CERT_FILE if you use a private CA)"
            if failure.permanent
            else "Check the API URL (--api-url, --region, SPLX_API_URL) and the network"
        )
        return NotSentError(
            f"{call.what}: could not reach the API at {base_url} ({failure.reason})"
            f"{after}; nothing was sent, so {call.not_done}. {hint}, then {call.again}."
        )
    return unknown_outcome(call, f"{failure.reason} after the request was sent{after}")


def refusal(call: Call, answer: Answer, *, base_url: str) -> ApiError:
    """The error for a definite, non-transient answer other than success."""
    body = parse_error_body(answer.content)
    said = f"; the API said: {body.message}" if body.message else ""
    if answer.status == 401:
        return AuthenticationError(
            f"{call.what}: the API rejected the key in {API_KEY_ENV} "
            f"({answer.status_text}): it is missing, invalid or expired. Create a new "
            f"personal access token in the SPLX Probe UI and export {API_KEY_ENV}; "
            f"{call.stops}."
        )
    if answer.status == 403:
        return PermissionDeniedError(
            f"{call.what}: the key in {API_KEY_ENV} may not act on workspace "
            f"{call.workspace_id} ({answer.status_text}{said}). Check the workspaceId in the "
            f"specs, or use a token of a user with access to workspace {call.workspace_id}; "
            f"{call.stops}."
        )
    if 300 <= answer.status < 400:
        where = f" to {sanitise(answer.location)}" if answer.location else ""
        return RequestRejectedError(
            f"{call.what}: the API answered with a redirect ({answer.status_text}{where}); "
            f"{call.not_done}. Redirects are not followed, since they would carry the key "
            "elsewhere: set --api-url to the final address.",
            status=answer.status,
        )
    detail = body.summary()
    if call.kind is Kind.FINDINGS and answer.status in (404, 405):
        return RequestRejectedError(_findings_refusal(call, answer), status=answer.status)
    if call.kind is Kind.REPORT:
        next_step = "the platform has no report of it (a run has one once it has ended)"
    elif call.kind is Kind.FINDINGS:
        next_step = (
            "the request is the documented one, so the API may have changed; check the API "
            f"URL and the findingsPath setting (reconciler.yaml or {FINDINGS_PATH_ENV})"
        )
    elif call.read:
        next_step = (
            "check the API URL and the statusPath setting (reconciler.yaml or "
            "RECONCILER_STATUS_PATH)"
        )
    elif call.kind is Kind.CANCEL:
        next_step = "it stays in state and the next apply tries the cancel again"
    elif answer.status == 404:
        next_step = f"check workspaceId {call.workspace_id} and the API URL {base_url}"
    else:
        next_step = "fix the spec and run apply again"
    return RequestRejectedError(
        f"{call.what}: the API rejected the request ({answer.status_text})"
        f"{': ' + detail if detail else ''}; {call.not_done}: {next_step}.",
        status=answer.status,
        validation_errors=body.validation_errors,
    )


def _findings_refusal(call: Call, answer: Answer) -> str:
    """The message of a 404 or 405 to the export: both point at the path as much as the run."""
    setting = f"findingsPath setting (reconciler.yaml or {FINDINGS_PATH_ENV})"
    if answer.status == 404:
        return (
            f"{call.what}: the probe run is not known to the API ({answer.status_text} to "
            f"POST {call.path}); "
            f"{call.not_done}. If the run was deleted there is nothing to read; if the API "
            f"moved, check the {setting}."
        )
    return (
        f"{call.what}: the API does not accept POST at {call.path} ({answer.status_text}); "
        f"{call.not_done}. The export may have moved: check the {setting}."
    )


def unknown_outcome(call: Call, cause: str) -> OutcomeUnknownError:
    """An unknown outcome: what happened (kept in state) and what to do (shown now)."""
    return OutcomeUnknownError(f"{call.what}: {cause}; {call.unknown}", cause=cause)


def transient_failure(answer: Answer, now: float) -> Failure:
    """A 429 or 5xx answer as a ``Failure`` for the retry policy."""
    return Failure(
        Delivery.ANSWERED,
        f"HTTP {answer.status_text}",
        status=answer.status,
        retry_after=parse_retry_after(answer.retry_after, now),
        server_message=parse_error_body(answer.content).summary(),
    )
