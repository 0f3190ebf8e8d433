"""Reading the Probe API's response bodies: the trigger answer, strictly; error bodies, leniently.

A 200 to a trigger must be exactly ``{"testRunId": <int32>}``: anything else means the server
acted but we cannot tell on what, which the client reports as an unknown outcome. Error bodies
(``{"error": {"message", "code"?, "validationErrors"?}}``) are read for whatever they offer,
because they only decorate a message whose meaning the status already fixes.

Text from the server ends up on the user's terminal, so it is stripped of control characters
(no escape sequences) and cut to a sensible length.
"""

# Not ``from __future__ import annotations``: pydantic would compile every annotation of
# these models back from its string (docs/ARCHITECTURE.md, "Start-up stays light").

import json
from dataclasses import dataclass, field
from typing import Annotated, Final

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from reconciler.records import Int32
from reconciler.results.model import Counts, ProbeRunResult, RunResult
from reconciler.validation import describe_validation_error

_MAX_TEXT: Final = 300
NonNegative = Annotated[StrictInt, Field(ge=0)]


class _TriggerAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    test_run_id: Int32 = Field(alias="testRunId")


class _StatusProbeRun(BaseModel):
    # Extra fields are ignored: a read model must survive the API adding to its document, but
    # every field reconciler uses must be there, with its documented type.
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    probe_name: str = Field(alias="probeName")
    probe_run_id: Int32 | None = Field(default=None, alias="probeRunId")
    probe_id: Int32 | None = Field(default=None, alias="probeId")
    total_count: NonNegative = Field(alias="totalCount")
    passed_count: NonNegative = Field(alias="passedCount")
    failed_count: NonNegative = Field(alias="failedCount")
    error_count: NonNegative = Field(alias="errorCount")
    status: str


class _StatusAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    test_run_id: Int32 = Field(alias="testRunId")
    execution_date: str | None = Field(default=None, alias="executionDate")
    status: str
    probe_runs: list[_StatusProbeRun] = Field(alias="probeRuns")


class StatusAnswerError(ValueError):
    """A 200 status body that is not a status document; ``str()`` says why."""


def parse_status_answer(content: bytes, *, test_run_id: int, seen_at: str) -> RunResult:
    """The ``RunResult`` of a 200 status body for run ``test_run_id``.

    Raises ``StatusAnswerError`` for a document that is not JSON, lacks a field, has a count
    that is not a non-negative integer, or is about another run. An unknown status is not an
    error: it is kept verbatim and counts as not ended.
    """
    try:
        answer = _StatusAnswer.model_validate_json(content)
    except ValidationError as exc:
        raise StatusAnswerError(sanitise(describe_validation_error(exc, whole="body"))) from None
    if answer.test_run_id != test_run_id:
        raise StatusAnswerError(f"it describes run {answer.test_run_id}, not {test_run_id}")
    return RunResult(
        test_run_id=answer.test_run_id,
        status=sanitise(answer.status),
        execution_date=sanitise(answer.execution_date) if answer.execution_date else None,
        probe_runs=tuple(
            ProbeRunResult(
                probe_name=sanitise(run.probe_name),
                probe_run_id=run.probe_run_id,
                probe_id=run.probe_id,
                status=sanitise(run.status),
                counts=Counts(
                    total=run.total_count,
                    passed=run.passed_count,
                    failed=run.failed_count,
                    errored=run.error_count,
                ),
            )
            for run in answer.probe_runs
        ),
        seen_at=seen_at,
    )


class TriggerAnswerError(ValueError):
    """A 200 trigger body that is not ``{"testRunId": <int32>}``; ``str()`` says why."""


def parse_trigger_answer(content: bytes) -> int:
    """The ``testRunId`` of a 200 trigger body; raises ``TriggerAnswerError`` otherwise."""
    try:
        return _TriggerAnswer.model_validate_json(content).test_run_id
    except ValidationError as exc:
        raise TriggerAnswerError(sanitise(describe_validation_error(exc, whole="body"))) from None


@dataclass(frozen=True)
class ErrorBody:
    """What an error response said about itself; every part optional."""

    message: str | None = None
    code: str | None = None
    validation_errors: dict[str, list[str]] = field(default_factory=dict)

    def summary(self) -> str | None:
        """``field: problem; field: problem`` when there are field errors, else the message."""
        if self.validation_errors:
            return "; ".join(
                f"{name}: {', '.join(problems)}"
                for name, problems in self.validation_errors.items()
            )
        return self.message


def parse_error_body(content: bytes) -> ErrorBody:
    """Read ``{"error": {...}}`` leniently: parts of the wrong shape are ignored."""
    try:
        document = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return ErrorBody()
    error = document.get("error") if isinstance(document, dict) else None
    if not isinstance(error, dict):
        return ErrorBody()
    return ErrorBody(
        message=_text(error.get("message")),
        code=_text(error.get("code")),
        validation_errors=_validation_errors(error.get("validationErrors")),
    )


def _validation_errors(value: object) -> dict[str, list[str]]:
    if not isinstance(value, dict):
        return {}
    found: dict[str, list[str]] = {}
    for name, problems in value.items():
        items = problems if isinstance(problems, list) else [problems]
        texts = [text for text in map(_text, items) if text]
        if texts:
            found[sanitise(str(name))] = texts
    return found


def _text(value: object) -> str | None:
    return sanitise(value) if isinstance(value, str) and value.strip() else None


def sanitise(text: str, limit: int = _MAX_TEXT) -> str:
    """Server text made safe to print: control characters become spaces; long text is cut."""
    clean = "".join(ch if ch.isprintable() else " " for ch in text).strip()
    return clean if len(clean) <= limit else clean[: limit - 3] + "..."
