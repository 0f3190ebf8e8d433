"""pydantic validation errors → ``SpecError`` messages a person can act on.

pydantic says "Input should be a valid integer" at ``('testRuns', 'x', 'targetId')``; users
need ``specs/prod.yaml:14: testRuns.x.targetId: expected an integer, got true (a boolean)``
and a hint that shows the right spelling. Everything here is a pure function of one error.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from reconciler.limits import INT32_MAX, INT32_MIN
from reconciler.spec.schema import RUN_KEY_RE, Defaults, RunSpec, SpecFile, yaml_fields

Loc = Sequence[int | str]

_EXAMPLES = {
    "workspaceId": "workspaceId: 1234",
    "targetId": "targetId: 42",
    "probeIds": "probeIds: [101, 102]",
    "name": 'name: "Nightly jailbreak sweep"',
    "runAiAnalysis": "runAiAnalysis: true",
    "notifyWhenFinished": "notifyWhenFinished: true",
    "protect": "protect: true",
}
_WHAT = {
    "workspaceId": "the workspace's numeric id",
    "targetId": "the target's numeric id",
    "probeIds": "a list of numeric probe ids",
    "name": "text",
    "runAiAnalysis": "true or false",
    "notifyWhenFinished": "true or false",
    "protect": "true or false",
}
_RUN_EXAMPLE = "e.g.\n    my-run:\n      targetId: 42\n      probeIds: [101, 102]"
_KEY_CHARSET = "letters, digits and -_.:/[]=,"


def field_path(loc: Loc) -> str:
    """``('testRuns', 'x', 'probeIds', 1)`` → ``testRuns.x.probeIds[1]``."""
    text = ""
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


_KINDS: tuple[tuple[type, str], ...] = (
    # bool before int: True is an int to Python, not to a spec file.
    (bool, "a boolean"),
    (int, "an integer"),
    (float, "a number with a fraction"),
    (str, "a string"),
)


def describe(value: Any) -> str:
    """A value as the user wrote it in YAML, with its type: ``true (a boolean)``."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, list | dict):
        return "a list" if isinstance(value, list) else "a mapping"
    shown = ("true" if value else "false") if isinstance(value, bool) else repr(value)
    kind = next((label for kind, label in _KINDS if isinstance(value, kind)), "a value")
    return f"{shown} ({kind})"


def _field_name(loc: Loc) -> str | None:
    """The spec field an error is about (``probeIds`` for ``...probeIds[3]``)."""
    for part in reversed(loc):
        if isinstance(part, str) and part != "[key]":
            return part
    return None


def _model_at(parent: Loc) -> type[BaseModel]:
    """The model whose fields live at ``parent`` (for unknown-field suggestions)."""
    if not parent:
        return SpecFile
    return Defaults if parent[0] == "defaults" else RunSpec


def _example_hint(name: str | None, prefix: str = "write") -> str | None:
    if name in _EXAMPLES:
        return f"{prefix} {_WHAT[name]}, e.g. {_EXAMPLES[name]}"
    return None


def _collection_hint(loc: Loc) -> str | None:
    if list(loc) == ["testRuns"]:
        return "list the runs as a mapping under testRuns:; a file with no runs has testRuns: {}"
    if list(loc) == ["defaults"]:
        return "give defaults some fields (e.g. notifyWhenFinished: true) or remove the line"
    if len(loc) == 2 and loc[0] == "testRuns":
        return f"give the run its fields, {_RUN_EXAMPLE}"
    return _example_hint(_field_name(loc))


def _type_error(expected: str, error: ErrorDetails) -> tuple[str, str | None]:
    loc, value = error["loc"], error["input"]
    name = _field_name(loc)
    hint = _example_hint(name)
    if isinstance(loc[-1], int):
        hint = f"each probe id is a number, e.g. {_EXAMPLES['probeIds']}"
    if isinstance(value, str) and expected == "an integer" and value.strip().lstrip("-").isdigit():
        hint = f"remove the quotes: write {value.strip()}, not {value!r}"
    elif isinstance(value, str) and expected.startswith("true or false"):
        hint = f"write {name}: true or {name}: false (YAML 1.2: yes/no/on/off are strings)"
    return f"expected {expected}, got {describe(value)}", hint


def _unknown_field_hint(loc: Loc, value: Any) -> str:
    name = str(loc[-1])
    model = _model_at(loc[:-1])
    known = yaml_fields(model)
    if model is Defaults and name == "workspaceId":
        return "workspaceId goes at the top of the file (or on a run), not in defaults"
    if model is Defaults and name == "name":
        return "name cannot be a default: each run's name defaults to its key"
    if model is SpecFile and name in yaml_fields(RunSpec):
        return f"{name} belongs to a run under testRuns: (or in defaults:)"
    if model is SpecFile and isinstance(value, dict) and set(value) & set(yaml_fields(RunSpec)):
        return f"this looks like a run: put it under testRuns:, {_RUN_EXAMPLE}"
    squashed = {k.lower(): k for k in known}
    close = squashed.get(re.sub(r"[_\-\s]", "", name).lower())
    if close is None:
        matches = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        close = matches[0] if matches else None
    if close is not None:
        return f"did you mean {close}?"
    return f"the fields allowed here are: {', '.join(known)}"


def _suggest_key(key: str) -> str | None:
    ascii_key = unicodedata.normalize("NFKD", key).encode("ascii", "ignore").decode()
    fixed = re.sub(r"[^A-Za-z0-9_.:/\[\]=,-]+", "-", ascii_key).strip("_.:/[]=,-")[:200]
    return fixed if fixed and RUN_KEY_RE.match(fixed) else None


def _run_key_error(error: ErrorDetails) -> tuple[str, str | None]:
    key = str(error["input"])  # the YAML loader makes every key text
    if key == "":
        return "a run key cannot be empty", "give the run a key, e.g. chatbot-jailbreak:"
    message = (
        f"run key {key!r} is not allowed: use only {_KEY_CHARSET} (at most 200 characters), "
        "starting with a letter or digit"
    )
    suggestion = _suggest_key(key)
    hint = f"rename it, e.g. {suggestion}:" if suggestion else "rename it, e.g. chatbot-jailbreak:"
    return message, hint


def _message(error: ErrorDetails) -> tuple[str, str | None]:  # noqa: PLR0911 - one per type
    kind, loc, value = error["type"], error["loc"], error["input"]
    if loc and loc[-1] == "[key]":
        return _run_key_error(error)
    if kind == "extra_forbidden":
        return f"unknown field {loc[-1]!r}", _unknown_field_hint(loc, value)
    if kind == "missing":
        hint = (
            "add testRuns: with your runs; a file with no runs has testRuns: {}"
            if list(loc) == ["testRuns"]
            else _example_hint(_field_name(loc), "add")
        )
        return "required field is missing", hint
    if kind == "null_value":
        return "has no value", "give it a value, or remove the line to use the default"
    if kind == "int_type":
        return _type_error("an integer", error)
    if kind == "bool_type":
        return _type_error("true or false", error)
    if kind == "string_type":
        return _type_error("text", error)
    if kind in {"greater_than_equal", "less_than_equal"}:
        return (
            f"{value} is out of range: ids are 32-bit integers, from {INT32_MIN} to {INT32_MAX}",
            "check the id against the SPLX Probe UI or API",
        )
    if kind == "string_too_short":
        return "cannot be empty", "remove the name line to use the run key, or write a name"
    if kind in {"list_type", "dict_type", "model_type", "model_attributes_type"}:
        shape = "a list" if kind == "list_type" else "a mapping"
        return f"expected {shape}, got {describe(value)}", _collection_hint(loc)
    text = str(error["msg"])  # pragma: no cover - every type the schema can raise is above
    return text[:1].lower() + text[1:], None  # pragma: no cover


def spec_error_parts(error: ErrorDetails) -> tuple[str, str, str | None]:
    """``(field path, message, hint)`` for one pydantic error of a ``SpecFile`` validation."""
    message, hint = _message(error)
    return field_path(error["loc"]), message, hint
