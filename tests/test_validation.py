"""``reconciler.validation``: one-line summaries of pydantic errors, and field paths."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from reconciler.validation import describe_validation_error, field_path

REPO = Path(__file__).resolve().parents[1]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    a: int
    b: int
    c: list[int]
    d: dict[int, str]


def _error(data: object) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        _Doc.model_validate(data)
    return caught.value


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        (("testRuns", "x", "probeIds", 1), "testRuns.x.probeIds[1]"),
        ((0, "a"), "[0].a"),
        (("runs", "k", "[key]"), "runs.k"),
        ((), ""),
    ],
)
def test_field_path(loc: tuple[int | str, ...], path: str) -> None:
    assert field_path(loc) == path


def test_names_each_problem_by_its_path() -> None:
    err = _error({"a": 1, "b": 2, "c": [1, "x"], "d": {"k": "v"}})
    assert describe_validation_error(err) == (
        "c[1]: Input should be a valid integer, unable to parse string as an integer; "
        "d.k: Input should be a valid integer, unable to parse string as an integer"
    )


def test_lists_three_problems_then_counts_the_rest() -> None:
    err = _error({"c": "no", "d": {}, "e": 1, "f": 2})
    text = describe_validation_error(err)
    assert text.startswith("a: Field required; b: Field required; c: Input should be")
    assert text.endswith("; and 2 more")


def test_a_problem_with_the_whole_input_uses_the_given_name() -> None:
    err = _error([1, 2])
    assert describe_validation_error(err).startswith("<document>: Input should be")
    assert describe_validation_error(err, whole="body").startswith("body: Input should be")


def test_the_input_is_never_quoted() -> None:
    err = _error({"a": "secret-looking-value", "b": 1, "c": [], "d": {}})
    assert "secret-looking-value" not in describe_validation_error(err)


def test_importing_it_loads_no_pydantic() -> None:
    probe = "import sys, reconciler.validation; print('pydantic' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert done.stdout.strip() == "False"
