"""The request checks on their own: content types, route ids, trigger bodies."""

from __future__ import annotations

import json
from typing import Any

import pytest

from reconciler.simulator.validation import (
    TriggerRequest,
    is_accepted_content_type,
    parse_int32,
    validate_trigger_body,
)

from .conftest import BODY


@pytest.mark.parametrize(
    "header",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON; charset=UTF-8",
        "application/json-patch+json",
        "text/json",
        "application/vnd.splx+json",
        "application/problem+json",
    ],
)
def test_documented_content_types_are_accepted(header: str) -> None:
    assert is_accepted_content_type(header)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "text/plain",
        "application/xml",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "text/vnd.foo+json",  # only application/*+json is documented
        "application/+json",
        "application/jsonx",
        "application/json; charset=iso-8859-1",
    ],
)
def test_other_content_types_are_refused(header: str | None) -> None:
    assert not is_accepted_content_type(header)


@pytest.mark.parametrize(
    ("text", "value"),
    [("0", 0), ("42", 42), ("007", 7), ("-5", -5), ("2147483647", 2**31 - 1)],
)
def test_int32_route_values(text: str, value: int) -> None:
    assert parse_int32(text) == value


@pytest.mark.parametrize(
    "text", ["", "abc", "1.5", "+5", " 5", "1_000", "2147483648", "-2147483649", "٣", "0x10"]
)
def test_non_int32_route_values(text: str) -> None:
    assert parse_int32(text) is None


def body(**changes: Any) -> bytes:
    document = {**BODY, **changes}
    return json.dumps({k: v for k, v in document.items() if v is not ...}).encode()


def errors_of(raw: bytes) -> dict[str, list[str]]:
    request, errors = validate_trigger_body(raw)
    assert request is None
    return errors


def test_valid_body_is_parsed() -> None:
    request, errors = validate_trigger_body(body())
    assert errors == {}
    assert request == TriggerRequest(42, [101, 102], "nightly", False, True)


@pytest.mark.parametrize("probe_ids", [None, [], [0], [-(2**31), 2**31 - 1]])
def test_probe_ids_null_empty_and_bounds_are_accepted(probe_ids: list[int] | None) -> None:
    request, errors = validate_trigger_body(body(probeIds=probe_ids))
    assert errors == {}
    assert request is not None and request.probe_ids == probe_ids


@pytest.mark.parametrize(
    "field", ["targetId", "probeIds", "name", "notifyWhenFinished", "runAiAnalysis"]
)
def test_each_field_is_required(field: str) -> None:
    assert errors_of(body(**{field: ...})) == {field: [f"The {field} field is required."]}


def test_every_problem_is_reported_at_once() -> None:
    raw = json.dumps({"targetId": "42", "extra": 1, "TargetId": 1}).encode()
    assert set(errors_of(raw)) == {
        "targetId",
        "extra",
        "TargetId",
        "probeIds",
        "name",
        "notifyWhenFinished",
        "runAiAnalysis",
    }


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"targetId": True}, "targetId"),
        ({"targetId": False}, "targetId"),
        ({"targetId": "42"}, "targetId"),
        ({"targetId": 42.0}, "targetId"),
        ({"targetId": 1.5}, "targetId"),
        ({"targetId": None}, "targetId"),
        ({"targetId": 2**31}, "targetId"),
        ({"targetId": -(2**31) - 1}, "targetId"),
        ({"targetId": [42]}, "targetId"),
        ({"probeIds": 101}, "probeIds"),
        ({"probeIds": "101,102"}, "probeIds"),
        ({"probeIds": {"0": 101}}, "probeIds"),
        ({"probeIds": [101, True]}, "probeIds[1]"),
        ({"probeIds": [101, "102"]}, "probeIds[1]"),
        ({"probeIds": [None]}, "probeIds[0]"),
        ({"probeIds": [1, 2, 2**31]}, "probeIds[2]"),
        ({"name": 5}, "name"),
        ({"name": None}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"notifyWhenFinished": 0}, "notifyWhenFinished"),
        ({"notifyWhenFinished": "true"}, "notifyWhenFinished"),
        ({"notifyWhenFinished": None}, "notifyWhenFinished"),
        ({"runAiAnalysis": 1}, "runAiAnalysis"),
        ({"unexpected": 1}, "unexpected"),
        ({"runaianalysis": True}, "runaianalysis"),
    ],
)
def test_wrong_values_are_refused_per_field(changes: dict[str, Any], field: str) -> None:
    assert list(errors_of(body(**changes))) == [field]


def test_floats_written_as_exponent_are_refused() -> None:
    raw = body().replace(b'"targetId": 42', b'"targetId": 4.2e1')
    assert list(errors_of(raw)) == ["targetId"]


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b"not json",
        b'{"targetId": NaN}',
        b'{"targetId": Infinity}',
        b"\xff\xfe\x00garbage",
        b"[" * 100_000,
        b"[]",
        b'"a string"',
        b"null",
    ],
)
def test_bodies_that_are_not_an_object_are_refused_as_a_whole(raw: bytes) -> None:
    errors = errors_of(raw)
    assert list(errors) == ["$"]


def test_a_property_given_twice_is_refused() -> None:
    raw = body()[:-1] + b', "name": "other"}'
    assert list(errors_of(raw)) == ["name"]


def test_utf8_names_survive() -> None:
    request, _ = validate_trigger_body(body(name="nächtlich ✓"))
    assert request is not None and request.name == "nächtlich ✓"
