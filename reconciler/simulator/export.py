"""The test-case export's answer: filters, the shape of the document, and the faults it can be
told to answer with instead.

The export's answer is not documented (see docs/SIMULATOR.md): ``SHAPES`` are the guesses the
simulator can answer with, ``object`` (``{"testCases": [...], "totalCount": N}``) by default.

Export faults make it answer badly on purpose, so that a client's handling of each bad answer
is tested against a real server: an HTML page with a 200, a body that is not JSON, JSON with no
list of test cases in it, test cases without their attack fields, every test case twice, a
chosen HTTP status, or a delay longer than any client timeout. A fault selects runs by name (a
glob), by ``testRunId`` or all of them, and may be limited to the next ``times`` exports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from reconciler.limits import INT32_MAX, INT32_MIN
from reconciler.simulator.outcomes import OutcomeError
from reconciler.simulator.testcases import TestCase
from reconciler.simulator.validation import ExportRequest

#: How the list of test cases is wrapped: the key holding it, or None for a bare array.
SHAPES: dict[str, str | None] = {
    "object": "testCases",
    "array": None,
    "items": "items",
    "data": "data",
    "testCaseResults": "testCaseResults",
}

FAULT_KINDS = ("html", "not-json", "no-list", "no-attack", "duplicates", "status", "delay")
#: Statuses a ``status`` fault may answer with.
FAULT_STATUSES = (400, 401, 403, 404, 405, 409, 429, 500, 502, 503, 504)
#: The fields a ``no-attack`` fault leaves out of every test case.
ATTACK_FIELDS = ("attack", "variation", "strategy", "redTeamer")
FAULT_FIELDS = ("fault", "name", "testRunId", "status", "seconds", "times")


def select(cases: list[TestCase], request: ExportRequest) -> list[TestCase]:
    """The test cases the request's filters let through (results were chosen already).

    ``strategy``, ``variation`` and ``redTeam`` match one of their values, ignoring case;
    ``search`` is a case-insensitive substring of the attack id or a message's content.
    """
    wanted = (
        ("strategy", request.strategy),
        ("variation", request.variation),
        ("redTeamer", request.red_team),
    )
    chosen = []
    for case in cases:
        if any(
            values is not None and str(case[field]).casefold() not in values
            for field, values in wanted
        ):
            continue
        if request.search is not None and not _contains(case, request.search):
            continue
        chosen.append(case)
    return chosen


def _contains(case: TestCase, needle: str) -> bool:
    messages: list[dict[str, str]] = case["messages"]  # type: ignore[assignment]
    texts = [str(case["attack"]), *(message["content"] for message in messages)]
    return any(needle.casefold() in text.casefold() for text in texts)


def shaped(cases: list[TestCase], shape: str) -> Any:
    """The answer document holding ``cases`` in ``shape`` (one of ``SHAPES``)."""
    key = SHAPES[shape]
    return cases if key is None else {key: cases, "totalCount": len(cases)}


@dataclass(frozen=True)
class ExportFault:
    """One export fault: ``kind`` (``FAULT_KINDS``), ``status`` for ``status``, ``seconds`` for
    ``delay``; selects runs by ``name`` glob, ``test_run_id`` or (neither) all; ``times``: only
    the next that many exports it selects (None: until removed)."""

    kind: str
    name: str | None = None
    test_run_id: int | None = None
    status: int | None = None
    seconds: float | None = None
    times: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise OutcomeError("fault", f"fault must be one of {', '.join(FAULT_KINDS)}")
        if self.name is not None and self.test_run_id is not None:
            raise OutcomeError("name", "give at most one of name (a glob) and testRunId")
        if self.name is not None and (not isinstance(self.name, str) or not self.name):
            raise OutcomeError("name", "name must be a non-empty string (a glob such as Nightly*)")
        if self.test_run_id is not None and not _is_int(self.test_run_id, INT32_MIN, INT32_MAX):
            raise OutcomeError("testRunId", f"testRunId must be an int32, got {self.test_run_id!r}")
        if (self.kind == "status") != (self.status is not None) or (
            self.status is not None and self.status not in FAULT_STATUSES
        ):
            raise OutcomeError(
                "status",
                "a status fault needs status, one of "
                f"{', '.join(map(str, FAULT_STATUSES))}; other faults take none",
            )
        if (self.kind == "delay") != (self.seconds is not None) or (
            self.seconds is not None
            and (
                isinstance(self.seconds, bool)
                or not isinstance(self.seconds, int | float)
                or not math.isfinite(self.seconds)
                or self.seconds < 0
            )
        ):
            raise OutcomeError(
                "seconds", "a delay fault needs seconds >= 0; other faults take none"
            )
        if self.times is not None and not _is_int(self.times, 1, INT32_MAX):
            raise OutcomeError("times", f"times must be a whole number >= 1, got {self.times!r}")

    def matches(self, test_run_id: int, name: str) -> bool:
        from fnmatch import fnmatchcase

        if self.test_run_id is not None:
            return self.test_run_id == test_run_id
        return self.name is None or fnmatchcase(name, self.name)

    def label(self) -> str:
        """What the request log says was injected: ``export:status:429``, ``export:html``."""
        arg = self.status if self.kind == "status" else self.seconds
        return f"export:{self.kind}" + ("" if arg is None else f":{arg:g}")

    def to_json(self) -> dict[str, Any]:
        document = {
            "fault": self.kind,
            "name": self.name,
            "testRunId": self.test_run_id,
            "status": self.status,
            "seconds": self.seconds,
            "times": self.times,
        }
        return {key: value for key, value in document.items() if value is not None}

    @classmethod
    def from_json(cls, document: Any) -> ExportFault:
        if not isinstance(document, dict):
            raise OutcomeError("$", "the body must be a JSON object")
        unknown = sorted(set(document) - set(FAULT_FIELDS))
        if unknown:
            raise OutcomeError(
                unknown[0],
                f"unknown field {unknown[0]!r}; the fields are {', '.join(FAULT_FIELDS)}",
            )
        if not isinstance(document.get("fault"), str):
            raise OutcomeError("fault", f"fault must be one of {', '.join(FAULT_KINDS)}")
        return cls(
            kind=document["fault"],
            name=document.get("name"),
            test_run_id=document.get("testRunId"),
            status=document.get("status"),
            seconds=document.get("seconds"),
            times=document.get("times"),
        )


def parse_fault_option(text: str) -> ExportFault:
    """``[GLOB=]KIND[:ARG]`` as given to ``--export-fault``: ``html``, ``Nightly*=status:429``,
    ``delay:40``. ``OutcomeError`` saying what is wrong."""
    glob, _, spec = text.rpartition("=")
    kind, colon, arg = spec.partition(":")
    fields: dict[str, Any] = {"kind": kind, "name": glob or None}
    try:
        if kind == "status" and colon:
            fields["status"] = int(arg)
        elif kind == "delay" and colon:
            fields["seconds"] = float(arg)
        elif colon:
            raise ValueError(arg)
    except ValueError:
        fields["kind"] = "?"
    try:
        return ExportFault(**fields)
    except OutcomeError as err:
        raise OutcomeError(
            "--export-fault",
            f"{text!r}: {err.message}; give [GLOB=]KIND[:ARG], KIND one of "
            f"{', '.join(FAULT_KINDS)}, e.g. html, 'Nightly*=status:429', delay:40",
        ) from None


def _is_int(value: object, low: int, high: int) -> bool:
    return type(value) is int and low <= value <= high
