"""The result model's statuses: stored in the product's spelling, whatever the API sent."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from reconciler.results.model import ProbeRunResult, RunResult


@pytest.mark.parametrize(
    ("sent", "stored", "ended"),
    [
        ("Finished", "Finished", True),
        ("FINISHED", "Finished", True),
        (" canceled ", "Canceled", True),
        ("error", "Error", True),
        ("RUNNING", "Running", False),
        ("Paused", "Paused", False),  # nobody knows it: verbatim, and not ended
    ],
)
def test_a_status_is_stored_in_its_canonical_spelling(sent: str, stored: str, ended: bool) -> None:
    document = f'{{"testRunId": 1, "status": "{sent}", "seenAt": "t"}}'
    for result in (
        RunResult(test_run_id=1, status=sent, seen_at="t"),
        RunResult.model_validate_json(document),
    ):
        assert result.status == stored and result.ended is ended
    assert ProbeRunResult(probe_name="p", status=sent).ended is ended


def test_a_status_that_is_not_text_is_refused_in_one_error() -> None:
    with pytest.raises(ValidationError) as caught:
        RunResult.model_validate_json('{"testRunId": 1, "status": 5, "seenAt": "t"}')
    assert caught.value.error_count() == 1
    assert caught.value.errors()[0]["type"] == "string_type"
