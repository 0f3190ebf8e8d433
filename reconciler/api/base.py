"""What the executor needs from the Probe API, so tests can substitute a fake."""

from __future__ import annotations

import enum
from typing import Protocol

from reconciler.records import RunAttributes
from reconciler.results.findings_read import Finding
from reconciler.results.model import ProbeRunResult, RunResult


class CancelOutcome(enum.Enum):
    CANCELLED = "cancelled"
    #: 400/404 on cancel: the run ended or does not exist; a normal outcome.
    NOTHING_TO_CANCEL = "nothing left to cancel"


class ProbeApi(Protocol):
    """The two documented endpoints. Errors are ``reconciler.errors.ApiError`` subclasses."""

    def trigger(self, attributes: RunAttributes, *, key: str) -> int:
        """Trigger one run; return its testRunId.

        Retries only when the request provably never reached the server (or 429). Raises
        ``OutcomeUnknownError`` when it may have been created, ``NotSentError`` /
        ``RequestRejectedError`` when it certainly was not.
        """
        ...

    def cancel(self, workspace_id: int, test_run_id: int, *, key: str) -> CancelOutcome:
        """Cancel one run; safe to repeat, so retried on transient failures."""
        ...

    def close(self) -> None: ...


class StatusApi(Protocol):
    """The status endpoint: a read, safe to repeat (``reconciler.reading.refresh`` uses it)."""

    def get_status(
        self, workspace_id: int, test_run_id: int, *, key: str, seen_at: str
    ) -> RunResult | None:
        """The run's status as a ``RunResult`` stamped ``seen_at``; None when the API answers
        404 (the run no longer exists). Raises ``ApiError`` subclasses: ``fatal`` ones (401,
        403) end the command; others mean this one run could not be read."""
        ...


class FindingsApi(Protocol):
    """The test-case export: a read, safe to repeat (``reconciler.results.reading`` uses it)."""

    def export_findings(
        self, workspace_id: int, test_run_id: int, probe_run: ProbeRunResult, *, key: str
    ) -> list[Finding]:
        """The FAILED test cases of ``probe_run`` (of run ``test_run_id`` of ``key``), parsed
        tolerantly into ``Finding``s (identity fingerprinted from the probe run's probe id, or
        its name when it has none). Raises ``ApiError`` subclasses: ``fatal`` ones (401, 403)
        end the command; any other (404, 5xx after retries, an answer with no test cases in
        it) means this one probe run could not be read, its message naming the key, the run,
        the probe run and what to do."""
        ...
