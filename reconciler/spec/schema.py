"""The spec file format as pydantic models, and its JSON Schema.

Field names are camelCase in YAML (as in PRODUCT.md and the Probe API) and snake_case in
Python. Every model forbids unknown fields and validates strictly: a bool is not an int, a
quoted number is not an int, a number is not a name. Each field is optional here because a run
may take ``targetId`` and ``probeIds`` from ``defaults`` and ``workspaceId`` from the top of its
file; the loader checks that the merged run is complete (``reconciler.spec.loader``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    StringConstraints,
    field_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from reconciler.records import Int32

#: Run keys appear in plans, state, PR comments and on command lines (``--target KEY``):
#: letters, digits and ``-_.:/[]=,``, starting with a letter or digit, at most 200 characters.
RUN_KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:/\[\]=,-]{0,199}$"
RUN_KEY_RE = re.compile(RUN_KEY_PATTERN)

RunKey = Annotated[StrictStr, StringConstraints(pattern=RUN_KEY_PATTERN)]
RunName = Annotated[StrictStr, StringConstraints(min_length=1)]


class _SpecModel(BaseModel):
    """Strict, closed, camelCase; an explicit ``null`` is refused rather than read as "unset"."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,
    )

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_null(cls, value: Any) -> Any:
        # Fields are Optional only to tell "absent" from "set"; `targetId:` with nothing after
        # it is a half-finished edit, not a request for the default.
        if value is None:
            raise PydanticCustomError("null_value", "a value is required here, got nothing")
        return value


class Defaults(_SpecModel):
    """Values merged into every run of the file; a run's own value wins.

    ``workspaceId`` is not here (it is the file's top-level field) and neither is ``name``
    (it defaults to the run key).
    """

    target_id: Int32 | None = Field(default=None, description="SPLX target id")
    probe_ids: list[Int32] | None = Field(
        default=None, description="probe ids; a set: order and repeats do not matter"
    )
    run_ai_analysis: StrictBool | None = None
    notify_when_finished: StrictBool | None = None
    protect: StrictBool | None = Field(
        default=None, description="never cancel or replace these runs while set"
    )


class RunSpec(_SpecModel):
    """One entry of ``testRuns``, before defaults are merged."""

    workspace_id: Int32 | None = Field(
        default=None, description="overrides the file's workspaceId for this run"
    )
    target_id: Int32 | None = Field(default=None, description="SPLX target id (required)")
    probe_ids: list[Int32] | None = Field(
        default=None,
        description="probe ids (required; may be empty); order and repeats do not matter",
    )
    name: RunName | None = Field(default=None, description="display name; defaults to the key")
    run_ai_analysis: StrictBool | None = Field(default=None, description="default false")
    notify_when_finished: StrictBool | None = Field(default=None, description="default false")
    protect: StrictBool | None = Field(
        default=None, description="never cancel or replace this run while set; default false"
    )


class SpecFile(_SpecModel):
    """One spec file: a workspace, optional defaults, and the runs keyed by their identity."""

    workspace_id: Int32 | None = Field(
        default=None, description="SPLX workspace of every run in this file"
    )
    defaults: Defaults | None = Field(default=None, description="merged into each run")
    test_runs: dict[RunKey, RunSpec] = Field(
        description="the runs; each key is the run's identity in plans and state",
        # A key outside RUN_KEY_PATTERN is an error, not an unchecked extra.
        json_schema_extra={"additionalProperties": False},
    )


#: Fields each model accepts, as written in YAML (for "did you mean" suggestions).
def yaml_fields(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


class _SpecSchemaGenerator(GenerateJsonSchema):
    """Describe the YAML contract rather than the Python one: no ``null``, no ``default: null``.

    The models type optional fields as ``X | None`` only to tell absent from set; ``null``
    itself is refused by ``_SpecModel._refuse_null``, so editors should not suggest it.
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
    schema = SpecFile.model_json_schema(
        by_alias=True, mode="validation", schema_generator=_SpecSchemaGenerator
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "reconciler spec file",
        **{k: v for k, v in schema.items() if k != "title"},
    }
