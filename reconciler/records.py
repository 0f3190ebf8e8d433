"""The normalised run record: the one shape specs, state and plans agree on.

A run is immutable once triggered, so "has it changed?" is plain equality of two
``RunAttributes``. Everything that makes two runs different belongs here, and nothing else:
a field added here forces a replace when it changes.
"""

# Not ``from __future__ import annotations``: pydantic would compile every annotation of
# these models back from its string (docs/ARCHITECTURE.md, "Start-up stays light").

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from reconciler.limits import INT32_MAX, INT32_MIN


def to_camel(name: str) -> str:
    """A field's wire name: ``run_ai_analysis`` → ``runAiAnalysis``.

    pydantic's ``to_camel`` gives the same for these snake_case names, through regular
    expressions compiled on its first call and run for every field of every model (about
    2.5 M instructions of each plan); tests/test_records.py checks both agree on every field.
    """
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


#: An int32 that refuses bools and numeric strings (pydantic's lax mode would accept both).
Int32 = Annotated[StrictInt, Field(ge=INT32_MIN, le=INT32_MAX)]


class RunAttributes(BaseModel):  # noqa: PLW1641 (pydantic makes the hash of a frozen model)
    """What a run was (or will be) triggered with, normalised.

    Field names are snake_case in Python and camelCase on the wire, in state and in plans,
    matching the Probe API.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )

    workspace_id: Int32
    target_id: Int32
    #: Sorted, without repeats: order and repeats in specs do not matter. None (``null`` on
    #: the wire): the probes configured for the target on the platform; not the same as ``()``.
    #: A value, not "unset": a dump that drops Nones (the journal's ``exclude_none``) must put
    #: it back (``reconciler.state.codec.encode_record`` does).
    probe_ids: tuple[Int32, ...] | None
    name: str
    run_ai_analysis: StrictBool = False
    notify_when_finished: StrictBool = False
    #: The spec's ``revision``: not sent to the API, but part of what the run is, so bumping it
    #: plans a replace (a reviewed way to run an unchanged test again). None: not set, and left
    #: out, so that state files, journals and plans of runs without one keep the bytes they had
    #: before the field existed (``exclude_if``: see docs/ARCHITECTURE.md, "Start-up stays
    #: light", on model serializers).
    revision: StrictInt | StrictStr | None = Field(
        default=None, exclude_if=lambda revision: revision is None
    )

    def __eq__(self, other: object) -> bool:
        # pydantic's own comparison weighs generic origins, private attributes and extra
        # fields, none of which a RunAttributes has: about 10 K instructions where this takes
        # one dict comparison, and a plan compares the attributes of every tracked key.
        if type(other) is type(self):
            return self.__dict__ == other.__dict__
        return super().__eq__(other)

    def trigger_body(self) -> dict[str, Any]:
        """The JSON body of ``POST .../test-run/trigger``: all five required fields."""
        return {
            "targetId": self.target_id,
            "probeIds": _probe_list(self.probe_ids),
            "name": self.name,
            "notifyWhenFinished": self.notify_when_finished,
            "runAiAnalysis": self.run_ai_analysis,
        }

    def wire(self) -> dict[str, Any]:
        """camelCase dict for state files, plans and diffs."""
        data = self.model_dump(mode="json")
        data["probeIds"] = _probe_list(self.probe_ids)
        return data


#: How plans, ``state show`` and reports name ``probeIds: null``.
TARGET_PROBES = "the target's configured probes"


def _probe_list(probe_ids: tuple[int, ...] | None) -> list[int] | None:
    return None if probe_ids is None else list(probe_ids)


def show_probe_ids(probe_ids: tuple[int, ...] | list[int] | None) -> str:
    """``[101, 102]``, or ``null (the target's configured probes)``, for people to read."""
    if probe_ids is None:
        return f"null ({TARGET_PROBES})"
    import json  # here: only messages that show probe ids need it

    return json.dumps(list(probe_ids))


def normalise_probe_ids(values: list[int] | tuple[int, ...]) -> tuple[int, ...]:
    """probeIds is a set: sort and drop repeats."""
    return tuple(sorted(set(values)))
