"""Reading the Probe API's response bodies: the trigger answer, strictly; error bodies, leniently.

A 200 to a trigger must be exactly ``{"testRunId": <int32>}``: anything else means the server
acted but we cannot tell on what, which the client reports as an unknown outcome. Error bodies
(``{"error": {"message", "code"?, "validationErrors"?}}``) are read for whatever they offer,
because they only decorate a message whose meaning the status already fixes.

Text from the server ends up on the user's terminal, so it is stripped of control characters
(no escape sequences) and cut to a sensible length.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reconciler.records import Int32
from reconciler.validation import describe_validation_error

_MAX_TEXT: Final = 300


class _TriggerAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    test_run_id: Int32 = Field(alias="testRunId")


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
