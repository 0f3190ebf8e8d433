"""pydantic validation errors → ``SpecError`` messages a person can act on.

pydantic says "Input should be a valid integer" at ``('testRuns', 'x', 'targetId')``; users
need ``specs/prod.yaml:14: testRuns.x.targetId: expected an integer, got true (a boolean)``
and a hint that shows the right spelling. Everything here is a pure function of one error.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from reconciler.errors import SpecError, SpecValidationError
from reconciler.limits import INT32_MAX, INT32_MIN
from reconciler.spec.schema import (
    NULL,
    Defaults,
    GateSpec,
    Matrix,
    MoveSpec,
    RunSpec,
    SpecFile,
    is_run_key,
    yaml_fields,
)
from reconciler.spec.values import describe
from reconciler.spec.yaml_loader import ParsedYaml, locate
from reconciler.validation import Loc, field_path

_EXAMPLES = {
    "workspaceId": "workspaceId: 1234",
    "targetId": "targetId: 42",
    "probeIds": "probeIds: [101, 102]",
    "name": 'name: "Nightly jailbreak sweep"',
    "runAiAnalysis": "runAiAnalysis: true",
    "notifyWhenFinished": "notifyWhenFinished: true",
    "protect": "protect: true",
    "revision": "revision: 2",
    "gate": "gate: {maxFailed: 0}",
    "failOn": "failOn: [Error, Canceled]",
    "rerunAfter": "rerunAfter: 7d",
}
_WHAT = {
    "workspaceId": "the workspace's numeric id",
    "targetId": "the target's numeric id",
    "probeIds": "a list of numeric probe ids (or null: the target's configured probes)",
    "name": "text",
    "runAiAnalysis": "true or false",
    "notifyWhenFinished": "true or false",
    "protect": "true or false",
    "revision": "a number or a word",
    "gate": "a mapping of limits",
    "failOn": "a list of ended statuses",
    "rerunAfter": "a duration",
}
_RUN_EXAMPLE = "e.g.\n    my-run:\n      targetId: 42\n      probeIds: [101, 102]"
_KEY_CHARSET = "letters, digits and -_.:/[]=,"


def _field_name(loc: Loc) -> str | None:
    """The spec field an error is about (``probeIds`` for ``...probeIds[3]``)."""
    for part in reversed(loc):
        if isinstance(part, str) and part != "[key]":
            return part
    return None


def _model_at(parent: Loc, root: type[BaseModel] = SpecFile) -> type[BaseModel]:
    """The model whose fields live at ``parent`` (for unknown-field suggestions)."""
    if not parent:
        return root
    if parent[-1] == "gate":
        return GateSpec
    if parent[0] == "moved":
        return MoveSpec
    if parent[-1] == "matrix":
        return Matrix
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
        hint = f"each probe id is a number or the name of a probe set, e.g. {_EXAMPLES['probeIds']}"
    if isinstance(value, str) and expected == "an integer" and value.strip().lstrip("-").isdigit():
        hint = f"remove the quotes: write {value.strip()}, not {value!r}"
    elif isinstance(value, str) and expected.startswith("true or false"):
        hint = f"write {name}: true or {name}: false (YAML 1.2: yes/no/on/off are strings)"
    return f"expected {expected}, got {describe(value)}", hint


def _unknown_field_hint(loc: Loc, value: Any, root: type[BaseModel]) -> str:
    name = str(loc[-1])
    model = _model_at(loc[:-1], root)
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
        import difflib  # only a misspelt name needs it

        matches = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        close = matches[0] if matches else None
    if close is not None:
        return f"did you mean {close}?"
    return f"the fields allowed here are: {', '.join(known)}"


def _suggest_key(key: str) -> str | None:
    ascii_key = unicodedata.normalize("NFKD", key).encode("ascii", "ignore").decode()
    fixed = re.sub(r"[^A-Za-z0-9_.:/\[\]=,-]+", "-", ascii_key).strip("_.:/[]=,-")[:200]
    return fixed if fixed and is_run_key(fixed) else None


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


def _probe_set_key_error(error: ErrorDetails) -> tuple[str, str | None]:
    name = str(error["input"])
    return (
        f"probe set name {name!r} is not allowed: start with a letter, then use letters, "
        "digits and _.- (at most 100 characters)",
        "rename it, e.g. jailbreak:",
    )


def _language_message(error: ErrorDetails) -> tuple[str, str | None]:
    """Errors of the newer keys: revision, probe references, moved keys, matrix axes."""
    kind = error["type"]
    if kind == "string_pattern_mismatch":  # a key under moved:
        return _run_key_error(error)
    if kind == "too_short":
        return "needs at least one value", "list the values, e.g. targetId: [42, 43]"
    hint = (error.get("ctx") or {}).get("hint")
    return str(error["msg"]), str(hint) if hint else None


def _message(  # noqa: PLR0911 - one per type
    error: ErrorDetails, root: type[BaseModel]
) -> tuple[str, str | None]:
    kind, loc, value = error["type"], error["loc"], error["input"]
    if value is NULL:  # an explicit null where null is not a value (SpecModel._refuse_null)
        kind = "null_value"
    if loc and loc[-1] == "[key]":
        return _probe_set_key_error(error) if loc[0] == "probeSets" else _run_key_error(error)
    if kind in _LANGUAGE_KINDS:
        return _language_message(error)
    if kind == "extra_forbidden":
        return f"unknown field {loc[-1]!r}", _unknown_field_hint(loc, value, root)
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


_LANGUAGE_KINDS = frozenset(
    {"revision_type", "probe_ref", "string_pattern_mismatch", "too_short", "gate_value", "duration"}
)
_NUMERIC = re.compile(r"\s*[-+]?[0-9]+\s*\Z")


def collapse_unions(errors: Sequence[ErrorDetails]) -> list[ErrorDetails]:
    """One error per value of a ``probeIds`` entry, whatever the union branches said.

    pydantic reports a value that fits neither branch of ``int | set name`` twice, once per
    branch, with the branch's tag in the location. The tags are dropped and the branch that
    says most about the value is kept: the integer branch for numbers, booleans and quoted
    numbers (so ``'102'`` still gets "remove the quotes"), a set-name message for other text.
    """
    grouped: dict[tuple[int | str, ...], list[ErrorDetails]] = {}
    for error in errors:
        grouped.setdefault(_untagged(error["loc"]), []).append(error)
    collapsed: list[ErrorDetails] = []
    for loc, group in grouped.items():
        chosen = group[0] if len(group) == 1 else _pick(group)
        collapsed.append({**chosen, "loc": loc})
    return collapsed


def _untagged(loc: Loc) -> tuple[int | str, ...]:
    # Under probeIds every value is in a list, so a name right after an index is a union tag.
    out: list[int | str] = []
    under_probes = False
    for part in loc:
        if under_probes and isinstance(part, str) and out and isinstance(out[-1], int):
            continue
        under_probes = under_probes or part == "probeIds"
        out.append(part)
    return tuple(out)


def _pick(group: list[ErrorDetails]) -> ErrorDetails:
    value = group[0]["input"]
    if isinstance(value, str) and not _NUMERIC.match(value):
        return {
            **group[0],
            "type": "probe_ref",
            "msg": f"{value!r} is neither a probe id nor a probe set name",
            "ctx": {
                "hint": "probe ids are numbers; probe set names start with a letter and use "
                "letters, digits and _.-"
            },
        }
    for error in group:
        if error["type"] in {"greater_than_equal", "less_than_equal", "int_type"}:
            return error
    return {
        **group[0],
        "type": "probe_ref",
        "msg": f"expected a probe set name or a list of probe ids, got {describe(value)}",
        "ctx": {"hint": "e.g. probeIds: [jailbreak, [101, 102]]"},
    }


def spec_error_parts(
    error: ErrorDetails, root: type[BaseModel] = SpecFile
) -> tuple[str, str, str | None]:
    """``(field path, message, hint)`` for one pydantic error of a ``root`` validation."""
    message, hint = _message(error, root)
    return field_path(error["loc"]), message, hint


def validation_errors(
    exc: ValidationError, parsed: ParsedYaml, display: str, root: type[BaseModel] = SpecFile
) -> list[SpecError]:
    """Every error of validating ``parsed.data`` as ``root``, located in the YAML file.

    A value the YAML layer already refused (a bad tag, an unset variable) is not reported
    twice; a value that came from ``${VAR}`` says so.
    """
    reported = {error.field for error in parsed.errors}
    errors = []
    for detail in collapse_unions(exc.errors()):
        path, message, hint = spec_error_parts(detail, root)
        if path in reported:
            continue
        on_key = detail["type"] == "extra_forbidden" or "[key]" in detail["loc"]
        line = locate(parsed.root, detail["loc"], key=on_key)
        if line is not None and line in parsed.interpolated and not on_key:
            message += f", from {parsed.interpolated[line]}"
        errors.append(SpecError(message, file=display, line=line, field=path, hint=hint))
    return errors


class ConfigValidationError(SpecValidationError):
    """Every problem of a pass that involves the project config, headed with the config's name.

    A ``SpecValidationError`` says "in spec files", which sends a user looking in the wrong
    place when the problem is in ``reconciler.yaml``. ``with_specs``: spec files have errors
    too.
    """

    def __init__(
        self, errors: Sequence[SpecError], display: str, *, with_specs: bool = False
    ) -> None:
        self.display = display
        self.with_specs = with_specs
        super().__init__(errors)

    def render(self) -> str:
        count = len(self.errors)
        where = f"the project config {self.display}"
        if self.with_specs:
            where = f"the spec files and {where}"
        head = f"{count} error{'s' if count != 1 else ''} in {where}; nothing was sent:"
        return "\n".join([head, *(e.render() for e in self.errors)])
