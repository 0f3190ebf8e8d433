"""The YAML layer: YAML 1.2 scalars, duplicate keys, lines, and what it refuses."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from reconciler.spec import yaml_loader
from reconciler.spec.yaml_loader import key_lines, locate, parse_yaml


def data_of(text: str) -> Any:
    parsed = parse_yaml(text, "t.yaml")
    assert parsed.errors == []
    return parsed.data


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("42", 42),
        ("-7", -7),
        ("+3", 3),
        ("012", 12),  # YAML 1.1 would say octal 10
        ("1_000", "1_000"),
        ("0x1A", "0x1A"),
        ("1:30", "1:30"),  # YAML 1.1 would say 90
        ("4.5", 4.5),
        ("1e3", 1000.0),
        ("true", True),
        ("False", False),
        ("yes", "yes"),
        ("on", "on"),
        ("~", None),
        ("null", None),
        ("", None),
        ("2024-06-01", "2024-06-01"),  # YAML 1.1 would give a date
        ("'42'", "42"),
        ('"true"', "true"),
        ("!!str 42", "42"),
        ("!!int '42'", 42),
    ],
)
def test_scalars_resolve_by_yaml_1_2_core(text: str, value: object) -> None:
    result = data_of(f"v: {text}\n")["v"]
    assert result == value
    assert type(result) is type(value)


def test_the_c_loader_is_used_when_available() -> None:
    if getattr(yaml, "__with_libyaml__", False):
        assert issubclass(yaml_loader._SpecYamlLoader, yaml.CSafeLoader)


def test_keys_are_always_the_text_written() -> None:
    assert data_of("1: a\ntrue: b\n2024-01-01: c\n~: d\n") == {
        "1": "a",
        "true": "b",
        "2024-01-01": "c",
        "~": "d",
    }


def test_duplicate_keys_report_both_lines_and_keep_the_first() -> None:
    parsed = parse_yaml("a:\n  x: 1\n  y: 2\n  x: 3\n", "t.yaml")
    assert parsed.data == {"a": {"x": 1, "y": 2}}
    [error] = parsed.errors
    assert (error.file, error.line, error.field) == ("t.yaml", 4, "a.x")
    assert error.message == "duplicate key 'x' (first at line 2)"


def test_quoted_and_plain_spellings_of_a_key_are_duplicates() -> None:
    [error] = parse_yaml("a: 1\n'a': 2\n", "t.yaml").errors
    assert error.line == 2


def test_aliases_are_shared_and_recursive_ones_refused() -> None:
    assert data_of("a: &x [1, 2]\nb: *x\n") == {"a": [1, 2], "b": [1, 2]}
    [error] = parse_yaml("a: &x [1, *x]\n", "t.yaml").errors
    assert "contains it" in error.message


def test_billion_laughs_is_built_in_linear_time() -> None:
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 9)]
    data = data_of("\n".join(lines) + "\n")
    assert data["l8"][0] is data["l8"][1]


def test_non_scalar_keys_and_merge_keys_are_refused() -> None:
    errors = parse_yaml("? [a]\n: 1\nb:\n  <<: {c: 1}\n", "t.yaml").errors
    assert [(e.line, e.field) for e in errors] == [(1, "?"), (4, "b.<<")]


def test_unknown_tags_are_refused() -> None:
    text = "a: !custom 1\nb: !!map {}\nc: !!seq []\nd: !!int x\ne: !!null x\n!k f: 1\n"
    errors = parse_yaml(text, "t.yaml").errors
    assert [(e.line, e.field) for e in errors] == [(1, "a"), (4, "d"), (5, "e"), (6, "f")]
    assert "unsupported YAML tag !custom" in errors[0].message
    assert errors[1].message == "'x' is not a valid int"
    assert errors[2].message == "'x' is not a valid null"
    assert "unsupported YAML tag !k" in errors[3].message


def test_an_empty_document_has_no_root() -> None:
    parsed = parse_yaml("# nothing\n", "t.yaml")
    assert (parsed.root, parsed.data, parsed.errors) == (None, None, [])


def test_reader_errors_are_spec_errors() -> None:
    [error] = parse_yaml("a: \x07\n", "t.yaml").errors
    assert error.file == "t.yaml"


def test_locate_follows_error_locations() -> None:
    text = "top: 1\nruns:\n  a:\n    ids:\n      - 1\n      - 2\n    name:\n      x\n"
    root = parse_yaml(text, "t.yaml").root
    assert locate(root, ("top",)) == 1
    assert locate(root, ("runs", "a")) == 3  # a collection: the line of its key
    assert locate(root, ("runs", "a", "ids", 1)) == 6
    assert locate(root, ("runs", "a", "name")) == 8  # the value's own line
    assert locate(root, ("runs", "a", "name"), key=True) == 7
    assert locate(root, ("runs", "a", "missing")) == 3
    assert locate(root, ("runs", "a", "[key]")) == 3
    assert locate(root, ("runs", "a", "ids", 9)) == 4
    assert locate(root, ()) == 1
    assert locate(None, ("x",)) is None


def test_key_lines() -> None:
    root = parse_yaml("runs:\n  a: 1\n  b: 2\n  a: 3\n", "t.yaml").root
    assert key_lines(root, "runs") == {"a": 2, "b": 3}
    assert key_lines(root, "nothing") == {}
    assert key_lines(None, "runs") == {}


def test_references_in_flow_collections_parse_and_keep_columns_and_keys() -> None:
    parsed = parse_yaml("a: [${A}, {k: ${B:-x, y}}]\n${C}: 1\n", "t.yaml", {"A": "1]"})
    assert parsed.errors == []
    # Interpolated after parsing: a value with "]" is one scalar; keys are not interpolated.
    assert parsed.data == {"a": ["1]", {"k": "x, y"}], "${C}": 1}
    assert key_lines(parsed.root) == {"a": 1, "${C}": 2}
    # The masking swaps characters one for one: a syntax error keeps its column.
    (error,) = parse_yaml("a: {x: ${A}} }\n", "t.yaml", {"A": "1"}).errors
    assert (error.line, error.column) == (1, 14)
