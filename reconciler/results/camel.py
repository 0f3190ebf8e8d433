"""The model base the results' models share with the state document: frozen, strict about
unknown fields, camelCase on the wire. Apart from ``model`` so that ``findings`` (which the
result model holds) can build on it without a cycle."""

# Not ``from __future__ import annotations``: pydantic would compile every annotation of
# these models back from its string (docs/ARCHITECTURE.md, "Start-up stays light").

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from reconciler.records import to_camel

Count = Annotated[StrictInt, Field(ge=0)]


class CamelModel(BaseModel):
    """Frozen, strict about unknown fields, camelCase on the wire: the results' models and the
    gate share this shape with the rest of the state document."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )
