"""The spec file format as pydantic models, and its JSON Schema.

Field names are camelCase in YAML (as in PRODUCT.md and the Probe API) and snake_case in
Python. Every model forbids unknown fields and validates strictly: a bool is not an int, a
quoted number is not an int, a number is not a name. Each field is optional here because a run
may take ``targetId`` and ``probeIds`` from ``defaults`` and ``workspaceId`` from the top of its
file; the loader checks that the merged run is complete (``reconciler.spec.loader``).
"""

# Not ``from __future__ import annotations``: pydantic would compile every annotation of
# these models back from its string (docs/ARCHITECTURE.md, "Start-up stays light").

import re
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    PlainValidator,
    StrictBool,
    StrictStr,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from reconciler.records import Int32, to_camel
from reconciler.results.gate import Gate
from reconciler.results.model import ENDED_STATUSES, canonical_status
from reconciler.spec.values import describe


class _JsonNull:
    """Offers ``null`` in the JSON Schema of a field where it is a value (``_nullable``)."""

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"anyOf": [handler(schema), {"type": "null"}]}


#: Run keys appear in plans, state, PR comments and on command lines (``--target KEY``):
#: letters, digits and ``-_.:/[]=,``, starting with a letter or digit, at most 200 characters.
RUN_KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:/\[\]=,-]{0,199}$"


def is_run_key(text: str) -> bool:
    """Whether ``text`` may be a run key (``RUN_KEY_PATTERN``). The pattern is compiled on
    first use (``re`` keeps it): only a matrix or a misspelt key needs it."""
    return re.match(RUN_KEY_PATTERN, text) is not None


RunKey = Annotated[StrictStr, StringConstraints(pattern=RUN_KEY_PATTERN)]
RunName = Annotated[StrictStr, StringConstraints(min_length=1)]

#: Probe set names start with a letter, so a name can never be mistaken for a probe id.
PROBE_SET_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$"
ProbeSetName = Annotated[StrictStr, StringConstraints(pattern=PROBE_SET_NAME_PATTERN)]
#: An entry of ``probeIds``: a probe id, or the name of a probe set that stands for its ids.
#: A union validated in pydantic-core keeps plain id lists as fast as before; the loader's
#: message layer turns the union's paired errors back into one (``messages.collapse_unions``).
ProbeRef = Int32 | ProbeSetName
#: ``probeIds`` of a run or ``defaults``: ids and set names, or ``null`` for the probes
#: configured for the target on the platform (the trigger's ``probeIds: null``).
ProbeIds = Annotated[list[ProbeRef] | None, _JsonNull()]
#: What a probe set stands for: ids, or ``null`` for the target's configured probes.
ProbeSetIds = Annotated[list[Int32] | None, _JsonNull()]


def _check_revision(value: Any) -> int | str:
    # A plain validator rather than an int | str union: one clear error instead of two.
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise PydanticCustomError(
            "revision_type",
            "expected an integer or text, got {got}",
            {"got": _describe(value), "hint": "write a number or a word, e.g. revision: 2"},
        )
    if isinstance(value, str) and not value.strip():
        raise PydanticCustomError(
            "revision_type",
            "cannot be empty",
            {"hint": "write a number or a word, e.g. revision: 2, or remove the line"},
        )
    return value


#: ``revision``: any integer or non-empty text; changing it plans a replace.
Revision = Annotated[int | str, PlainValidator(_check_revision, json_schema_input_type=int | str)]

#: What a duration looks like, for editors (``reconciler.durations.parse_duration`` decides).
DURATION_PATTERN = r"^(\d+d)?(\d+h)?(\d+m)?(\d+s)?$"


def _check_duration(value: Any) -> int:
    """``7d`` → seconds; one clear error with a hint for anything else."""
    from reconciler.durations import EXAMPLES, parse_duration

    seconds = parse_duration(value) if isinstance(value, str) else None
    if seconds is not None:
        return seconds
    hint = f"write a whole number and a unit (d, h, m, s), e.g. {EXAMPLES}"
    if isinstance(value, int) and not isinstance(value, bool):
        hint = f"add a unit: {value}d, {value}h, {value}m or {value}s"
    raise PydanticCustomError(
        "duration",
        "expected a duration such as 7d, got {got}",
        {"got": _describe(value), "hint": hint},
    )


#: ``rerunAfter``: a duration, kept as whole seconds (more than zero).
Duration = Annotated[
    int,
    PlainValidator(
        _check_duration,
        json_schema_input_type=Annotated[str, StringConstraints(pattern=DURATION_PATTERN)],
    ),
]


def _check_count(value: Any) -> int:
    """A gate's count of test cases: an integer, 0 or more."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise PydanticCustomError(
            "gate_value",
            "expected a whole number of test cases, got {got}",
            {"got": _describe(value), "hint": "write a count, e.g. maxFailed: 0"},
        )
    if value < 0:
        raise PydanticCustomError(
            "gate_value",
            "{value} is negative: a count of test cases is 0 or more",
            {"value": value, "hint": "write 0 to allow none, or remove the line for no limit"},
        )
    return value


def _check_rate(value: Any) -> float:
    """A gate's rate: a number from 0 to 1 (a fraction, not a percentage)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError(
            "gate_value",
            "expected a fraction between 0 and 1, got {got}",
            {"got": _describe(value), "hint": "write e.g. maxFailedRate: 0.05 for 5%"},
        )
    if not 0 <= value <= 1:
        raise PydanticCustomError(
            "gate_value",
            "{value} is not between 0 and 1: the rate is a fraction of the test cases",
            {"value": value, "hint": "write e.g. maxFailedRate: 0.05 for 5%"},
        )
    return float(value)


def _check_ended_status(value: Any) -> str:
    """An entry of ``failOn``: an ended status in any letter case, kept in its spelling."""
    known = ", ".join(sorted(ENDED_STATUSES))
    if not isinstance(value, str) or canonical_status(value) not in ENDED_STATUSES:
        shown = repr(value) if isinstance(value, str) else _describe(value)
        raise PydanticCustomError(
            "gate_value",
            "{shown} is not a status a run ends with",
            {"shown": shown, "hint": f"use any of {known}, e.g. failOn: [Error, Canceled]"},
        )
    return canonical_status(value)


_COUNT_SCHEMA = {"type": "integer", "minimum": 0}
GateCount = Annotated[int, PlainValidator(_check_count), WithJsonSchema(_COUNT_SCHEMA)]
GateRate = Annotated[
    float,
    PlainValidator(_check_rate),
    WithJsonSchema({"type": "number", "minimum": 0, "maximum": 1}),
]
_STATUS_SPELLINGS = sorted({form for s in ENDED_STATUSES for form in (s, s.upper(), s.lower())})
EndedStatus = Annotated[
    str, PlainValidator(_check_ended_status), WithJsonSchema({"enum": _STATUS_SPELLINGS})
]


def _describe(value: Any) -> str:
    return describe(value)


class _Null:
    """Stands in for an explicit ``null`` where null is not a value (``SpecModel``).

    It fits no field's type, so the field's own validation fails at the field's location,
    beside every other error of the document; ``spec.messages`` then says "has no value".
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "null"


NULL = _Null()


class SpecModel(BaseModel):
    """Strict, closed, camelCase; an explicit ``null`` is refused rather than read as "unset"."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,
    )

    #: Fields where ``null`` is a value of its own (``probeIds: null``), not "absent"; the
    #: model's ``model_fields_set`` tells the two apart.
    _nullable: ClassVar[frozenset[str]] = frozenset()
    #: The YAML names of the other fields, where ``null`` is refused (set per model).
    _refuses_null: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls._refuses_null = frozenset(
            info.alias or name
            for name, info in cls.model_fields.items()
            if name not in cls._nullable
        )

    # One check of the whole mapping rather than a validator on every field: a field
    # validator is a Python call per field of every run, and pydantic inspects it once per
    # field of every model when the module is imported (about 13 M instructions a plan).
    @model_validator(mode="before")
    @classmethod
    def _refuse_null(cls, data: Any) -> Any:
        # Fields are Optional only to tell "absent" from "set"; `targetId:` with nothing after
        # it is a half-finished edit, not a request for the default.
        if isinstance(data, dict) and None in data.values():
            refused = cls._refuses_null
            return {k: NULL if v is None and k in refused else v for k, v in data.items()}
        return data


def _built_on_first_use(model: type[SpecModel]) -> Any:
    """``model`` as the type of a field whose model pydantic builds only when a spec uses it.

    A field typed by a model has that model's fields compiled along with the model holding
    it, by every command that reads specs; ``matrix``, ``moved`` and ``gate`` are rare, and
    their three models cost about 15 M instructions of every plan. As a plain validator over
    ``Any`` that hands the value to ``model`` (``defer_build``: compiled on that first call),
    the field validates exactly as before: pydantic reports the model's errors at their
    locations under the field, and the JSON Schema still describes the model.
    """
    return Annotated[Any, PlainValidator(model.model_validate), _ModelJsonSchema(model)]


class _ModelJsonSchema:
    """The JSON Schema of a field ``_built_on_first_use`` holds: its model's, built only when
    a JSON Schema is asked for (``json_schema_input_type`` would build it with the field)."""

    def __init__(self, model: type[BaseModel]) -> None:
        self.model = model

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # Under its own reference, as a field typed by the model would be: one entry in
        # ``$defs`` that each use points to, named after the model.
        ref = f"{self.model.__module__}.{self.model.__qualname__}:{id(self.model)}"
        built = {**self.model.__pydantic_core_schema__, "ref": ref}
        return handler(
            core_schema.definitions_schema(
                core_schema.definition_reference_schema(ref),
                [built],
            )
        )


def _gate_doc(name: str) -> str | None:
    return Gate.model_fields[name].description


class GateSpec(SpecModel):
    """A ``gate:`` block as written (in a run, in ``defaults`` or in ``reconciler.yaml``).

    The shapes follow ``reconciler.results.gate.Gate``, which evaluates it; this model only
    adds the spec file's strictness and messages. ``to_gate`` makes the ``Gate``.
    """

    model_config = ConfigDict(**SpecModel.model_config, defer_build=True)

    max_failed: GateCount | None = Field(default=None, description=_gate_doc("max_failed"))
    max_failed_rate: GateRate | None = Field(default=None, description=_gate_doc("max_failed_rate"))
    max_errored: GateCount | None = Field(default=None, description=_gate_doc("max_errored"))
    fail_on: list[EndedStatus] | None = Field(default=None, description=_gate_doc("fail_on"))
    max_failed_increase: GateCount | None = Field(
        default=None, description=_gate_doc("max_failed_increase")
    )
    max_new_findings: GateCount | None = Field(
        default=None, description=_gate_doc("max_new_findings")
    )

    def to_gate(self) -> Gate:
        """The fields this block sets; the others stay unset, for ``Gate.over`` to fill."""
        return Gate.model_validate(self.model_dump(exclude_none=True, by_alias=False))


if TYPE_CHECKING:  # the type checker sees the model itself
    LazyGateSpec = GateSpec
else:
    LazyGateSpec = _built_on_first_use(GateSpec)

#: Shared by runs, ``defaults`` and ``reconciler.yaml``.
GATE_DESCRIPTION = (
    "when the run's result fails a pipeline (status, wait, apply --wait); merged field by "
    "field with defaults and reconciler.yaml, never sent to the API"
)


class Defaults(SpecModel):
    """Values merged into every run of the file; a run's own value wins.

    ``workspaceId`` is not here (it is the file's top-level field) and neither is ``name``
    (it defaults to the run key).
    """

    _nullable = frozenset({"probe_ids"})

    target_id: Int32 | None = Field(default=None, description="SPLX target id")
    probe_ids: ProbeIds = Field(
        default=None,
        description="probe ids and probe set names; a set: order and repeats do not matter. "
        "null: the probes configured for the target on the platform",
    )
    run_ai_analysis: StrictBool | None = None
    notify_when_finished: StrictBool | None = None
    protect: StrictBool | None = Field(
        default=None, description="never cancel or replace these runs while set"
    )
    revision: Revision | None = Field(
        default=None, description="changing it replaces every run of the file that has none"
    )
    gate: LazyGateSpec | None = Field(default=None, description=GATE_DESCRIPTION)
    rerun_after: Duration | None = Field(
        default=None,
        description="replace a run once it has ended and was triggered longer ago than this "
        "(30m, 12h, 7d)",
    )


class Matrix(SpecModel):
    """``matrix:`` of a run: one run per combination of the listed values.

    Each axis is a field of the run with a list of values instead of one value.
    """

    model_config = ConfigDict(**SpecModel.model_config, defer_build=True)

    workspace_id: list[Int32] | None = Field(default=None, min_length=1)
    target_id: list[Int32] | None = Field(default=None, min_length=1)
    probe_ids: list[ProbeSetName | list[ProbeRef]] | None = Field(
        default=None,
        min_length=1,
        description="each value is a probe set name or a list of probe ids and set names",
    )
    revision: list[Revision] | None = Field(default=None, min_length=1)
    run_ai_analysis: list[StrictBool] | None = Field(default=None, min_length=1)
    notify_when_finished: list[StrictBool] | None = Field(default=None, min_length=1)


if TYPE_CHECKING:  # the type checker sees the model itself
    LazyMatrix = Matrix
else:
    LazyMatrix = _built_on_first_use(Matrix)


class MoveSpec(SpecModel):
    """An entry of ``moved:``: the run tracked as ``from`` is now tracked as ``to``."""

    model_config = ConfigDict(**SpecModel.model_config, defer_build=True)

    source: RunKey = Field(alias="from", description="the key the run had")
    target: RunKey = Field(alias="to", description="the key it has now (declared in the specs)")


if TYPE_CHECKING:  # the type checker sees the model itself
    LazyMoveSpec = MoveSpec
else:
    LazyMoveSpec = _built_on_first_use(MoveSpec)


class RunSpec(SpecModel):
    """One entry of ``testRuns``, before defaults are merged."""

    workspace_id: Int32 | None = Field(
        default=None, description="overrides the file's workspaceId for this run"
    )
    _nullable = frozenset({"probe_ids"})

    target_id: Int32 | None = Field(default=None, description="SPLX target id (required)")
    probe_ids: ProbeIds = Field(
        default=None,
        description="probe ids and probe set names (required; may be empty); "
        "order and repeats do not matter. null: the probes configured for the target on the "
        "platform",
    )
    name: RunName | None = Field(
        default=None,
        description="display name; defaults to the key. With a matrix, {axis} placeholders "
        "are replaced by the run's values",
    )
    run_ai_analysis: StrictBool | None = Field(default=None, description="default false")
    notify_when_finished: StrictBool | None = Field(default=None, description="default false")
    protect: StrictBool | None = Field(
        default=None, description="never cancel or replace this run while set; default false"
    )
    revision: Revision | None = Field(
        default=None, description="not sent to the API; changing it plans a replace"
    )
    rerun_after: Duration | None = Field(
        default=None,
        description="replace the run once it has ended and was triggered longer ago than "
        "this (30m, 12h, 7d); editing it alone re-triggers nothing",
    )
    matrix: LazyMatrix | None = Field(
        default=None, description="expand into one run per combination of these values"
    )
    gate: LazyGateSpec | None = Field(default=None, description=GATE_DESCRIPTION)


class SpecFile(SpecModel):
    """One spec file: a workspace, optional defaults, and the runs keyed by their identity."""

    workspace_id: Int32 | None = Field(
        default=None, description="SPLX workspace of every run in this file"
    )
    defaults: Defaults | None = Field(default=None, description="merged into each run")
    probe_sets: dict[ProbeSetName, ProbeSetIds] | None = Field(
        default=None,
        description="named lists of probe ids, usable in this file's probeIds",
        json_schema_extra={"additionalProperties": False},
    )
    test_runs: dict[RunKey, RunSpec] = Field(
        description="the runs; each key is the run's identity in plans and state",
        # A key outside RUN_KEY_PATTERN is an error, not an unchecked extra.
        json_schema_extra={"additionalProperties": False},
    )
    moved: list[LazyMoveSpec] | None = Field(
        default=None, description="runs whose key changed: moved in state, not re-triggered"
    )


#: Fields each model accepts, as written in YAML (for "did you mean" suggestions).
def yaml_fields(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


class _SpecSchemaGenerator(GenerateJsonSchema):
    """Describe the YAML contract rather than the Python one: no ``null``, no ``default: null``.

    The models type optional fields as ``X | None`` only to tell absent from set; ``null``
    itself is refused by ``SpecModel._refuse_null``, so editors should not suggest it.
    """

    def field_title_should_be_set(self, schema: Any) -> bool:
        # "Targetid" and friends add nothing to the descriptions.
        return False

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        if schema.get("default", ...) is None:
            return self.generate_inner(schema["schema"])
        return super().default_schema(schema)


def spec_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of one spec file, for editors and ``reconciler schema``.

    It checks shapes only: that each run ends up with a workspace, target and probes after
    defaults are merged is checked by ``reconciler validate``.
    """
    return model_json_schema(SpecFile, "reconciler spec file")


def model_json_schema(model: type[BaseModel], title: str) -> dict[str, Any]:
    """The YAML contract of ``model`` (a ``SpecModel``) as JSON Schema draft 2020-12: camelCase
    names, no ``null``, ``${VAR}`` accepted for numbers and booleans."""
    schema = model.model_json_schema(
        by_alias=True, mode="validation", schema_generator=_SpecSchemaGenerator
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        **{k: v for k, v in _allow_variables(schema).items() if k != "title"},
    }


#: A value still holding ``${VAR}``: the editor cannot know what it becomes.
_VARIABLE_SCHEMA = {"type": "string", "pattern": r"\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}"}


def _allow_variables(node: Any) -> Any:
    """Let numbers and booleans be written as ``${VAR}`` too (strings already may be)."""
    if isinstance(node, list):
        return [_allow_variables(item) for item in node]
    if not isinstance(node, dict):
        return node
    walked = {key: _allow_variables(value) for key, value in node.items()}
    if walked.get("type") in ("integer", "number", "boolean"):
        described = {k: walked.pop(k) for k in ("description",) if k in walked}
        return {**described, "anyOf": [walked, _VARIABLE_SCHEMA]}
    return walked
