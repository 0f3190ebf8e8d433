"""Reading the test-case export: tolerant, since the answer's shape is not documented.

This module is the only code that knows how the export may spell things. What it accepts:

- the test cases as a JSON array of objects, or an object holding them: under a known name
  (``items``, ``data``, ``testCases``, ``testCaseResults``, ``results``, ...), else under the
  first key whose value is a non-empty array of objects, either at the top level or one level
  down (``{"data": {"items": [...]}}``);
- in each test case, field names matched case-insensitively and ignoring ``_`` and ``-``
  (``_FIELDS`` lists the spellings, first found wins); a value that is an object is read for
  its ``name`` (else ``code``, else ``id``), so ``"attack": {"id": 7, "name": "CTLO-6-3"}``
  gives ``CTLO-6-3``;
- the messages as ``messages: [{role, content}]``, else ``prompt``/``probe`` (the attack sent,
  role ``user``) and ``response`` (the target's answer, role ``assistant``).

What is missing stays None: nothing is guessed. The result is kept verbatim; test cases whose
result is known not to be a failure (``PASSED``, ``ERROR``, ...) are dropped, in case the server
ignored the filter, and a missing result counts as FAILED, since FAILED is all that was asked
for. Identity values (attack, variation, ...) are cleaned of control characters and cut at
``MAX_IDENTITY`` characters; content is kept whole and untouched (the views escape and cut it).

An answer that is not JSON, or holds no list of test cases, raises ``FindingsAnswerError``
whose message names what was seen (an HTML page, the top-level keys), never a value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from reconciler.api.wire import sanitise
from reconciler.results.findings import FAILED, FindingRecord, fingerprint
from reconciler.results.findings_read import Finding, Message
from reconciler.results.model import ProbeRunResult

#: Identity values longer than this are cut: an attack name is short, a page of text is not one.
MAX_IDENTITY: Final = 200
#: Top-level keys named in an error, at most; each cut to ``_MAX_KEY`` characters.
_MAX_KEYS_SHOWN: Final = 12
_MAX_KEY: Final = 40

#: Where an object answer may hold its test cases, most likely first (normalised spelling).
_CONTAINERS: Final = (
    "items",
    "data",
    "testcases",
    "testcaseresults",
    "results",
    "content",
    "records",
    "rows",
    "values",
)

#: Each field read from a test case and its spellings, first found wins (normalised spelling).
_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    "id": ("id", "testcaseid"),
    "attack": ("attack", "attackid", "attackname"),
    "variation": ("variation", "variationname"),
    "red_teamer": ("redteamer", "redteam", "redteamername"),
    "strategy": ("strategy", "strategyname"),
    "detected_at": ("detectiontime", "detectedat"),
    "result": ("result", "status"),
    "messages": ("messages",),
    "prompt": ("prompt", "probe"),
    "response": ("response",),
}
#: Keys of an object value that name it, first found wins.
_NAME_KEYS: Final = ("name", "code", "id")
#: Result values known not to be failures (casefolded): such test cases are not findings.
NOT_FAILED: Final = frozenset({"passed", "pass", "error", "errored", "skipped"})


class FindingsAnswerError(ValueError):
    """A 200 export answer with no test cases that can be read; ``str()`` says what it was."""


@dataclass(frozen=True)
class ExportAnswer:
    """What one export answer gave: its findings, what the log may say about it."""

    findings: list[Finding]
    #: The field names of the first test case (names only, cleaned), for ``--debug``.
    first_fields: tuple[str, ...]
    #: Test cases of the answer, findings or not.
    test_cases: int
    #: Test cases dropped because their result is known not to be a failure.
    dropped: int


def parse_export_answer(
    content: bytes, *, content_type: str, probe_run: ProbeRunResult
) -> ExportAnswer:
    """The findings of one probe run's 200 export answer; ``FindingsAnswerError`` if it has
    none to read (see the module doc for what is accepted)."""
    test_cases = _test_cases(_json(content, content_type))
    findings = [_finding(case, probe_run) for case in test_cases]
    kept = [f for f in findings if f.result.casefold() not in NOT_FAILED]
    first = tuple(_clean_key(k) for k in test_cases[0]) if test_cases else ()
    return ExportAnswer(
        findings=kept,
        first_fields=first,
        test_cases=len(test_cases),
        dropped=len(findings) - len(kept),
    )


def _json(content: bytes, content_type: str) -> object:
    media_type = content_type.partition(";")[0].strip().lower()
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError, RecursionError):
        pass
    if "html" in media_type or content.lstrip()[:1] == b"<":
        raise FindingsAnswerError(
            f"an HTML page ({len(content)} bytes), not JSON: a login page or a proxy's answer "
            "rather than the API's"
        ) from None
    what = media_type or "no content type"
    raise FindingsAnswerError(f"a body that is not JSON ({what}, {len(content)} bytes)") from None


def _test_cases(document: object) -> list[Mapping[str, object]]:
    if isinstance(document, list):
        if not _objects(document, allow_empty=True):
            raise FindingsAnswerError(
                f"a JSON array of {len(document)} items that are not all objects, not a list "
                "of test cases"
            )
        return document
    if not isinstance(document, dict):
        raise FindingsAnswerError(f"a JSON {_kind(document)}, not a list of test cases")
    found = _held(document)
    if found is None:
        for value in document.values():
            if isinstance(value, dict) and (found := _held(value)) is not None:
                break
    if found is None:
        raise FindingsAnswerError(
            f"a JSON object with no list of test cases in it (top-level keys: {_keys(document)})"
        )
    return found


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return "string" if isinstance(value, str) else "number"


def _held(document: Mapping[str, object]) -> list[Mapping[str, object]] | None:
    """The test cases an object holds: under a known name (one with items first), else under
    the first key whose value is a non-empty list of objects; None when it holds none."""
    by_name = {_normal(k): v for k, v in document.items()}
    known = [
        value
        for name in _CONTAINERS
        if isinstance(value := by_name.get(name), list) and _objects(value, allow_empty=True)
    ]
    if known:
        return next((value for value in known if value), known[0])
    for value in document.values():
        if isinstance(value, list) and _objects(value, allow_empty=False):
            return value
    return None


def _objects(value: Sequence[object], *, allow_empty: bool) -> bool:
    return (allow_empty or bool(value)) and all(isinstance(item, dict) for item in value)


def _keys(document: Mapping[str, object]) -> str:
    if not document:
        return "none"
    shown = [_clean_key(k) for k in list(document)[:_MAX_KEYS_SHOWN]]
    more = len(document) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more else "")


def _finding(case: Mapping[str, object], probe_run: ProbeRunResult) -> Finding:
    fields = {_normal(k): v for k, v in case.items()}

    def read(name: str) -> str | None:
        for spelling in _FIELDS[name]:
            value = _identity(fields.get(spelling))
            if value is not None:
                return value
        return None

    attack, variation = read("attack"), read("variation")
    strategy, red_teamer = read("strategy"), read("red_teamer")
    probe = probe_run.probe_id if probe_run.probe_id is not None else probe_run.probe_name
    test_case_id = read("id")
    record = FindingRecord(
        fingerprint=fingerprint(
            probe, attack, variation, strategy, red_teamer, unnamed=test_case_id
        ),
        probe_id=probe_run.probe_id,
        probe_run_id=probe_run.probe_run_id,
        attack=attack,
        variation=variation,
        strategy=strategy,
        red_teamer=red_teamer,
        test_case_id=test_case_id,
        detected_at=read("detected_at"),
    )
    return Finding(
        record=record,
        probe_name=probe_run.probe_name,
        result=read("result") or FAILED,
        messages=_messages(fields),
    )


def _messages(fields: Mapping[str, object]) -> tuple[Message, ...]:
    listed = _first(fields, "messages")
    if isinstance(listed, list):
        found = []
        for item in listed:
            if isinstance(item, dict):
                parts = {_normal(k): v for k, v in item.items()}
                role, content = _identity(parts.get("role")), _content(parts.get("content"))
                if content is not None:
                    found.append(Message((role or "unknown").casefold(), content))
        if found:
            return tuple(found)
    pairs = (("user", _first(fields, "prompt")), ("assistant", _first(fields, "response")))
    return tuple(Message(role, text) for role, raw in pairs if (text := _content(raw)) is not None)


def _first(fields: Mapping[str, object], name: str) -> object:
    """The value of the first spelling of ``name`` that is present and not null."""
    for spelling in _FIELDS[name]:
        value = fields.get(spelling)
        if value is not None:
            return value
    return None


def _identity(value: object) -> str | None:
    """An identity value as text: scalars as strings, objects by their name, cleaned and cut;
    None when missing, blank or not a scalar."""
    if isinstance(value, dict):
        named = {_normal(k): v for k, v in value.items()}
        for key in _NAME_KEYS:
            if (text := _identity(named.get(key))) is not None:
                return text
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        text = str(value)
        # The usual value (an attack id, a name) is short and printable: what sanitise would
        # return, without its walk character by character (ten fields of every test case).
        if len(text) <= MAX_IDENTITY and text.isprintable():
            return text.strip() or None
        return sanitise(text, MAX_IDENTITY) or None
    return None


def _content(value: object) -> str | None:
    """Message content, whole: a string, or the text parts of a list (``[{"text": ...}]``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        texts = [
            text
            for part in value
            if isinstance(part, dict)
            and isinstance(text := {_normal(k): v for k, v in part.items()}.get("text"), str)
        ]
        return "\n".join(texts) if texts else None
    return None


def _normal(name: object) -> str:
    """A field name as compared: case, ``_`` and ``-`` do not count."""
    return str(name).casefold().replace("_", "").replace("-", "")


def _clean_key(name: object) -> str:
    return sanitise(str(name), _MAX_KEY) or "''"
