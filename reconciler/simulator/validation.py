"""Request checks of the documented contract, as strict as ASP.NET Core or stricter.

Hand-written rather than pydantic: this runs on every trigger, and the simulator must never
be the slowest part of a load test. Each check returns data (a value or per-field messages);
the handlers turn them into answers.

Where the real server might be lenient and a client could come to depend on it, the simulator
refuses on purpose, so that a client that passes here passes there:

- numbers given as strings (``"42"``), floats (``42.0``, ``1e2``) and bools for int32 fields;
- property names in another case (``TargetId``), unknown properties, repeated properties;
- a ``name`` that is empty or only whitespace (ASP.NET's ``[Required]`` refuses those too);
- a ``charset`` other than UTF-8.

Validation error keys are the JSON property names (``targetId``, ``probeIds[1]``), ``$`` for
the body as a whole, and the route parameter names (``workspaceId``, ``testRunId``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reconciler.limits import INT32_MAX, INT32_MIN

_ACCEPTED_MEDIA_TYPES = frozenset({"application/json", "application/json-patch+json", "text/json"})
# ``application/*+json``: any application subtype with a +json suffix and a non-empty name.
_SUFFIX_JSON = re.compile(r"application/[a-z0-9!#$&^_.-][a-z0-9!#$&^_.+-]*\+json")
_UTF8_CHARSETS = frozenset({"utf-8", "utf8", '"utf-8"'})
# ASCII digits only: Python's int() would also take "1_000", "+5", " 5" and other scripts'
# digits, none of which a client should send.
_INT_TEXT = re.compile(r"-?[0-9]+")

_TYPE_NAME = "TriggerTestRunRequest"


@dataclass(frozen=True, slots=True)
class TriggerRequest:
    """A trigger body that passed every check."""

    target_id: int
    probe_ids: list[int] | None
    name: str
    notify_when_finished: bool
    run_ai_analysis: bool


def is_accepted_content_type(header: str | None) -> bool:
    """True for the four documented JSON media types (any case, UTF-8 charset or none)."""
    if not header:
        return False
    media_type, *params = header.split(";")
    media_type = media_type.strip().lower()
    if media_type not in _ACCEPTED_MEDIA_TYPES and not _SUFFIX_JSON.fullmatch(media_type):
        return False
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().lower() not in _UTF8_CHARSETS:
            return False
    return True


def parse_int32(text: str) -> int | None:
    """The int32 a path segment spells, or None."""
    if not _INT_TEXT.fullmatch(text):
        return None
    value = int(text)
    return value if INT32_MIN <= value <= INT32_MAX else None


def path_errors(**segments: str) -> tuple[dict[str, int], dict[str, list[str]]]:
    """Route parameters parsed as int32, and a message for each one that is not."""
    values: dict[str, int] = {}
    errors: dict[str, list[str]] = {}
    for name, text in segments.items():
        value = parse_int32(text)
        if value is None:
            errors[name] = [f"The value '{text}' is not valid for {name}."]
        else:
            values[name] = value
    return values, errors


class _DuplicatePropertyError(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _pairs_without_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise _DuplicatePropertyError(name)
            seen.add(name)
    return result


def _refuse_constant(token: str) -> Any:
    # JSON has no NaN or Infinity; Python's parser accepts them unless told not to.
    raise ValueError(f"'{token}' is not valid JSON")


def validate_trigger_body(raw: bytes) -> tuple[TriggerRequest | None, dict[str, list[str]]]:
    """Parse and check a trigger body; exactly one of the two results is empty."""
    if not raw:
        return None, {"$": ["A non-empty request body is required."]}
    try:
        document = json.loads(
            raw, object_pairs_hook=_pairs_without_repeats, parse_constant=_refuse_constant
        )
    except _DuplicatePropertyError as dup:
        return None, {dup.name: [f"The JSON property '{dup.name}' is given more than once."]}
    except (ValueError, RecursionError) as err:
        # JSONDecodeError and UnicodeDecodeError are ValueErrors; RecursionError is a body
        # nested deeper than the parser can follow.
        return None, {"$": [f"The request body is not valid JSON: {err}"]}
    if not isinstance(document, dict):
        return None, {"$": [f"The JSON value could not be converted to {_TYPE_NAME}."]}
    return _check_fields(document)


def _check_fields(document: dict[str, Any]) -> tuple[TriggerRequest | None, dict[str, list[str]]]:
    errors: dict[str, list[str]] = {}
    for name in document.keys() - _FIELD_CHECKS.keys():
        errors[name] = [
            f"The JSON property '{name}' could not be mapped to any member of {_TYPE_NAME}."
        ]
    for name, check in _FIELD_CHECKS.items():
        if name in document:
            errors.update(check(name, document[name]))
        else:
            errors[name] = [f"The {name} field is required."]
    if errors:
        return None, errors
    return (
        TriggerRequest(
            target_id=document["targetId"],
            probe_ids=document["probeIds"],
            name=document["name"],
            notify_when_finished=document["notifyWhenFinished"],
            run_ai_analysis=document["runAiAnalysis"],
        ),
        {},
    )


def _check_int32(name: str, value: Any) -> dict[str, list[str]]:
    return {} if _is_int32(value) else {name: [_not_int32(name, value)]}


def _check_int32_list_or_null(name: str, value: Any) -> dict[str, list[str]]:
    if value is None:
        return {}
    if not isinstance(value, list):
        return {name: ["The JSON value could not be converted to an array of int32 or null."]}
    errors: dict[str, list[str]] = {}
    for index, item in enumerate(value):
        errors.update(_check_int32(f"{name}[{index}]", item))
    return errors


def _check_name(name: str, value: Any) -> dict[str, list[str]]:
    if not isinstance(value, str):
        return {name: [f"The JSON value {_show(value)} is not a string ({name})."]}
    if not value.strip():
        return {name: [f"The {name} field is required."]}
    return {}


def _check_bool(name: str, value: Any) -> dict[str, list[str]]:
    if isinstance(value, bool):
        return {}
    return {name: [f"The JSON value {_show(value)} is not a boolean ({name})."]}


#: Every property of the body, in documented order, with its check.
_FIELD_CHECKS: dict[str, Callable[[str, Any], dict[str, list[str]]]] = {
    "targetId": _check_int32,
    "probeIds": _check_int32_list_or_null,
    "name": _check_name,
    "notifyWhenFinished": _check_bool,
    "runAiAnalysis": _check_bool,
}


def _is_int32(value: object) -> bool:
    # ``type(...) is int`` refuses bool, which is an int subclass in Python but not in JSON.
    return type(value) is int and INT32_MIN <= value <= INT32_MAX


def _not_int32(path: str, value: object) -> str:
    if type(value) is int:
        return f"The JSON value {value} is outside the int32 range ({path})."
    return f"The JSON value {_show(value)} could not be converted to System.Int32 ({path})."


def _show(value: object) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."
