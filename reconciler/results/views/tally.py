"""The counts a summary line and the JSON summary share, so the two never disagree."""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.results.summary import ResultRow, ResultSet


@dataclass(frozen=True)
class Tally:
    """How the selected runs stand. Every run is in exactly one of passed, failed,
    still going and unreadable (a gone run failed: it can never satisfy its gate)."""

    runs: int
    passed: int
    failed: int
    still_going: int
    unreadable: int
    gone: int


def still_going(row: ResultRow) -> bool:
    """Read (now or before) and not ended: the run is on its way."""
    return row.result is not None and not row.ended


def tally(results: ResultSet) -> Tally:
    rows = results.rows
    return Tally(
        runs=len(rows),
        passed=len(results.passed),
        failed=len(results.failed),
        still_going=sum(1 for r in rows if still_going(r) and r.error is None),
        unreadable=sum(1 for r in rows if r.result is None and not r.gone),
        gone=sum(1 for r in rows if r.gone),
    )
