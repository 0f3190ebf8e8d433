"""Terminal decisions: colour, redaction."""

from __future__ import annotations

import io

import pytest

from reconciler.ui import Redactor, should_color


class FakeTty(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(
    ("tty", "env", "expected"),
    [
        (True, {}, True),
        (False, {}, False),
        (True, {"NO_COLOR": "1"}, False),
        (True, {"NO_COLOR": ""}, True),  # no-color.org: only a non-empty value counts
        (True, {"TERM": "dumb"}, False),
        (True, {"TERM": "xterm-256color"}, True),
    ],
)
def test_should_color(tty: bool, env: dict[str, str], expected: bool) -> None:
    assert should_color(FakeTty(tty), env) is expected


def test_should_color_is_false_for_a_closed_stream() -> None:
    stream = io.StringIO()
    stream.close()
    assert should_color(stream, {}) is False


def test_no_color_flag_wins_over_a_terminal() -> None:
    assert should_color(FakeTty(True), {}, no_color_flag=True) is False


def test_redactor_replaces_every_occurrence_and_ignores_short_values() -> None:
    redact = Redactor(["s3cr3t-key", "ab"])
    assert redact("key=s3cr3t-key and s3cr3t-key; ab") == "key=*** and ***; ab"
