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
    document, errors = _json_object(raw, _TYPE_NAME)
    if document is None:
        return None, errors
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


# --- the test-case export ----------------------------------------------------------------

_EXPORT_TYPE = "ExportTestCasesRequest"
_FILTERS_TYPE = "TestCaseFilters"
#: Result values the export's filter knows (the documented example sends ``["FAILED"]``).
EXPORT_RESULTS = ("PASSED", "FAILED", "ERROR")
EXPORT_FORMATS = ("json",)


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """An export body that passed every check. None means "no filter"; text filters are kept
    case-folded, to match without regard to case."""

    results: frozenset[str] | None
    red_team: frozenset[str] | None
    strategy: frozenset[str] | None
    variation: frozenset[str] | None
    search: str | None
    format: str


def validate_export_body(raw: bytes) -> tuple[ExportRequest | None, dict[str, list[str]]]:
    """Parse and check an export body; exactly one of the two results is empty.

    Required, like the documented example: ``filters`` (an object with all five of ``redTeam``,
    ``result``, ``search``, ``strategy``, ``variation``) and ``format`` (``"json"``). ``result``
    is null or an array of ``PASSED``/``FAILED``/``ERROR``; ``redTeam``, ``strategy`` and
    ``variation`` are null, a string or an array of strings; ``search`` is null or a string.
    An empty array filters nothing out, as null does.
    """
    document, errors = _json_object(raw, _EXPORT_TYPE)
    if document is None:
        return None, errors
    errors = _unknown_and_missing(document, ("filters", "format"), "", _EXPORT_TYPE)
    if "format" in document and document["format"] not in EXPORT_FORMATS:
        errors["format"] = [
            f"The JSON value {_show(document['format'])} is not a known format; "
            f"the formats are {', '.join(EXPORT_FORMATS)}."
        ]
    filters = document.get("filters")
    if "filters" in document and not isinstance(filters, dict):
        errors["filters"] = [f"The JSON value could not be converted to {_FILTERS_TYPE}."]
        filters = None
    values: dict[str, Any] = {}
    if isinstance(filters, dict):
        errors.update(
            _unknown_and_missing(filters, tuple(_FILTER_CHECKS), "filters.", _FILTERS_TYPE)
        )
        for name, check in _FILTER_CHECKS.items():
            if name in filters:
                value, problems = check(f"filters.{name}", filters[name])
                errors.update(problems)
                values[name] = value
    if errors:
        return None, errors
    return (
        ExportRequest(
            results=values["result"],
            red_team=values["redTeam"],
            strategy=values["strategy"],
            variation=values["variation"],
            search=values["search"],
            format=document["format"],
        ),
        {},
    )


def _json_object(raw: bytes, type_name: str) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
    """The body as a JSON object (no repeated properties, no NaN), or the errors saying why not."""
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
        return None, {"$": [f"The JSON value could not be converted to {type_name}."]}
    return document, {}


def _unknown_and_missing(
    document: dict[str, Any], fields: tuple[str, ...], path: str, type_name: str
) -> dict[str, list[str]]:
    errors = {
        path + name: [
            f"The JSON property '{name}' could not be mapped to any member of {type_name}."
        ]
        for name in document.keys() - set(fields)
    }
    for name in fields:
        if name not in document:
            errors[path + name] = [f"The {name} field is required."]
    return errors


FilterCheck = Callable[[str, Any], tuple[Any, dict[str, list[str]]]]


def _results_filter(path: str, value: Any) -> tuple[frozenset[str] | None, dict[str, list[str]]]:
    if value is None:
        return None, {}
    if not isinstance(value, list):
        return None, {path: ["The JSON value could not be converted to an array of results."]}
    errors = {
        f"{path}[{index}]": [
            f"The JSON value {_show(item)} is not a result; the results are "
            f"{', '.join(EXPORT_RESULTS)}."
        ]
        for index, item in enumerate(value)
        if item not in EXPORT_RESULTS
    }
    return (frozenset(value) or None) if not errors else None, errors


def _texts_filter(path: str, value: Any) -> tuple[frozenset[str] | None, dict[str, list[str]]]:
    if value is None:
        return None, {}
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        return None, {
            path: [f"The JSON value {_show(value)} is not a string or an array of strings."]
        }
    errors = {
        f"{path}[{index}]": [f"The JSON value {_show(item)} is not a string."]
        for index, item in enumerate(items)
        if not isinstance(item, str)
    }
    if errors:
        return None, errors
    return frozenset(item.casefold() for item in items) or None, {}


def _search_filter(path: str, value: Any) -> tuple[str | None, dict[str, list[str]]]:
    if value is None or isinstance(value, str):
        return value or None, {}
    return None, {path: [f"The JSON value {_show(value)} is not a string or null."]}


#: The properties of ``filters``, in documented order, with their checks.
_FILTER_CHECKS: dict[str, FilterCheck] = {
    "redTeam": _texts_filter,
    "result": _results_filter,
    "search": _search_filter,
    "strategy": _texts_filter,
    "variation": _texts_filter,
}
