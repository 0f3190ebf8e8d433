"""``rerunAfter``: durations, precedence (run > defaults > reconciler.yaml), errors with file,
line, field and hint, and its place beside (not in) the run's attributes."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.config import load_project_config
from reconciler.durations import format_age, format_duration, parse_duration
from reconciler.errors import SpecValidationError
from reconciler.spec import load_specs

SPEC = """\
workspaceId: 1
defaults:
  rerunAfter: 7d
testRuns:
  nightly:
    targetId: 1
    probeIds: [1]
    rerunAfter: 12h
  weekly:
    targetId: 1
    probeIds: [1]
"""


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30m", 1800), ("12h", 43200), ("7d", 604800), ("1d12h", 129600), ("90s", 90), (" 2h ", 7200)],
)
def test_durations_parse(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "7", "7 days", "1.5h", "0s", "0d", "12h1d", "-1h", "7D"])
def test_what_is_not_a_duration(text: str) -> None:
    assert parse_duration(text) is None


def test_durations_and_ages_read_back_short() -> None:
    assert [format_duration(s) for s in (604800, 129600, 90, 43200)] == [
        "7d",
        "1d12h",
        "1m30s",
        "12h",
    ]
    assert [format_age(s) for s in (8 * 86400 + 3600, 5 * 3600 + 59, 61, 40)] == [
        "8d",
        "5h",
        "1m",
        "40s",
    ]


def test_the_run_wins_over_defaults_and_defaults_over_the_config(tmp_path: Path) -> None:
    spec = tmp_path / "runs.yaml"
    spec.write_text(SPEC + "  plain:\n    targetId: 1\n    probeIds: [1]\n")
    other = tmp_path / "other.yaml"
    other.write_text("workspaceId: 1\ntestRuns:\n  other:\n    targetId: 1\n    probeIds: [1]\n")
    config_file = tmp_path / "reconciler.yaml"
    config_file.write_text("rerunAfter: 30m\n")
    desired = load_specs([str(spec), str(other)], config=load_project_config(config_file))
    assert {k: r.rerun_after for k, r in desired.runs.items()} == {
        "nightly": 43200,
        "weekly": 604800,
        "plain": 604800,
        "other": 1800,
    }


def test_rerun_after_is_not_an_attribute_but_is_in_the_checksum(tmp_path: Path) -> None:
    spec = tmp_path / "runs.yaml"
    spec.write_text(SPEC)
    first = load_specs([str(spec)])
    spec.write_text(SPEC.replace("rerunAfter: 12h", "rerunAfter: 1d"))
    second = load_specs([str(spec)])
    assert first.runs["nightly"].attributes == second.runs["nightly"].attributes
    # A saved plan made before the edit may have judged the run due differently: stale.
    assert first.checksum != second.checksum
    spec.write_text(
        SPEC.replace("    rerunAfter: 12h\n", "").replace("defaults:\n  rerunAfter: 7d\n", "")
    )
    plain = load_specs([str(spec)])
    assert plain.runs["nightly"].rerun_after is None


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        ("7 days", "write a whole number and a unit (d, h, m, s), e.g. 30m, 12h, 7d or 1d12h"),
        ("12", "add a unit: 12d, 12h, 12m or 12s"),
        ("true", "write a whole number and a unit"),
    ],
)
def test_a_bad_duration_names_file_line_field_and_a_fix(
    tmp_path: Path, value: str, hint: str
) -> None:
    spec = tmp_path / "runs.yaml"
    spec.write_text(SPEC.replace("rerunAfter: 12h", f"rerunAfter: {value}"))
    with pytest.raises(SpecValidationError) as raised:
        load_specs([str(spec)])
    (error,) = raised.value.errors
    assert (error.line, error.field) == (8, "testRuns.nightly.rerunAfter")
    assert error.file is not None and error.file.endswith("runs.yaml")
    assert "expected a duration such as 7d" in str(error)
    assert error.hint is not None and hint in error.hint
