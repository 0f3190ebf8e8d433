"""What the status and findings JSON documents share: how a run is named and how its
findings are counted, so that a script reading both finds the same fields."""

from __future__ import annotations

from typing import Any

from reconciler.results.summary import ResultRow


def run_head(row: ResultRow) -> dict[str, Any]:
    """The fields that name a run and its state, first in each document's run entry."""
    return {
        "key": row.key,
        "testRunId": row.test_run_id,
        "workspaceId": row.workspace_id,
        "targetId": row.target_id,
        "name": row.name,
        "status": row.status,
        "ended": row.ended,
    }


def findings_counts(row: ResultRow) -> dict[str, Any]:
    """The counts of a row's findings, shared with the status document."""
    findings = row.findings
    diff = findings.diff if findings is not None else None
    return {
        "known": diff is not None,
        "newCount": diff.new_count if diff is not None else None,
        "knownCount": diff.known_count if diff is not None else None,
        "fixedCount": diff.fixed_count if diff is not None else None,
        "notRecorded": diff.more if diff is not None else None,
        "determined": diff.determined if diff is not None else None,
        "undeterminedBecause": diff.undetermined_because if diff is not None else None,
        "previousRunId": diff.previous_run_id if diff is not None else None,
        "error": findings.error if findings is not None else None,
        "notRead": findings.not_read if findings is not None else None,
    }
