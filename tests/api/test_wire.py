"""Reading response bodies: trigger answers strictly, error bodies leniently and safely."""

from __future__ import annotations

import pytest

from reconciler.api.wire import (
    ErrorBody,
    TriggerAnswerError,
    parse_error_body,
    parse_trigger_answer,
    sanitise,
)


def test_trigger_answer() -> None:
    assert parse_trigger_answer(b'{"testRunId": 42}') == 42


def test_trigger_answer_errors_do_not_quote_the_input() -> None:
    with pytest.raises(TriggerAnswerError) as caught:
        parse_trigger_answer(b'{"testRunId": "secret-looking-value"}')
    assert "secret-looking-value" not in str(caught.value)
    assert caught.value.__cause__ is None


def test_full_error_body() -> None:
    body = parse_error_body(
        b'{"error": {"message": "Validation failed", "code": "VALIDATION",'
        b' "validationErrors": {"name": ["required"], "targetId": ["must be positive"]}}}'
    )
    assert body == ErrorBody(
        message="Validation failed",
        code="VALIDATION",
        validation_errors={"name": ["required"], "targetId": ["must be positive"]},
    )
    assert body.summary() == "name: required; targetId: must be positive"


@pytest.mark.parametrize(
    "content",
    [b"", b"<html>502</html>", b"[]", b'{"error": "boom"}', b'{"message": "x"}', b"\xff\xfe"],
)
def test_unusable_error_bodies_give_nothing(content: bytes) -> None:
    assert parse_error_body(content) == ErrorBody()
    assert ErrorBody().summary() is None


def test_error_body_parts_of_the_wrong_shape_are_ignored() -> None:
    body = parse_error_body(
        b'{"error": {"message": 5, "code": "", "validationErrors":'
        b' {"a": "single", "b": [1, "two", ""], "c": []}}}'
    )
    assert body == ErrorBody(validation_errors={"a": ["single"], "b": ["two"]})


def test_validation_errors_that_are_not_a_mapping_are_ignored() -> None:
    body = parse_error_body(b'{"error": {"message": "m", "validationErrors": ["x"]}}')
    assert body == ErrorBody(message="m")


def test_server_text_loses_control_characters() -> None:
    assert sanitise("bad\x1b[31mred\x07\nline") == "bad [31mred  line"


def test_long_server_text_is_cut() -> None:
    assert sanitise("x" * 1000, limit=10) == "xxxxxxx..."
