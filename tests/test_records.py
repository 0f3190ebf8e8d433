"""RunAttributes: equality is "same run", and records stay usable as set members."""

from __future__ import annotations

from reconciler.records import RunAttributes
from tests.factories import attrs


def test_attributes_equal_exactly_when_every_field_is_equal() -> None:
    base = attrs(name="nightly", probe_ids=(101, 102))
    assert base == attrs(name="nightly", probe_ids=(101, 102))
    for changed in (
        {"name": "weekly"},
        {"probe_ids": (101,)},
        {"probe_ids": None},
        {"target_id": base.target_id + 1},
        {"revision": 2},
        {"run_ai_analysis": not base.run_ai_analysis},
    ):
        other = base.model_copy(update=changed)
        assert base != other, changed
        assert (base == other) is False, changed


def test_attributes_hash_like_they_compare() -> None:
    one, same = attrs(name="nightly"), attrs(name="nightly")
    assert hash(one) == hash(same)
    assert len({one, same, attrs(name="weekly")}) == 2


def test_attributes_are_not_equal_to_their_wire_form() -> None:
    run = attrs(name="nightly")
    assert run != run.wire()
    assert run != RunAttributes.model_validate(run.wire()).model_copy(update={"name": "x"})


def test_wire_names_are_what_pydantic_would_make_of_every_field() -> None:
    # records.to_camel stands in for pydantic's (a few regular expressions fewer per plan):
    # it must agree on every field name of every model that uses it.
    import importlib
    import pkgutil

    from pydantic import BaseModel
    from pydantic.alias_generators import to_camel as pydantic_to_camel

    import reconciler
    from reconciler.records import to_camel

    names: set[str] = set()
    for module in pkgutil.walk_packages(reconciler.__path__, "reconciler."):
        if module.name.startswith("reconciler.simulator") or module.name.endswith("__main__"):
            continue  # the simulator's models speak the API's own names; __main__ runs the CLI
        for value in vars(importlib.import_module(module.name)).values():
            if isinstance(value, type) and issubclass(value, BaseModel):
                names.update(value.model_fields)
    assert len(names) > 50
    for name in sorted(names):
        assert to_camel(name) == pydantic_to_camel(name), name
