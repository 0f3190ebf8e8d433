"""``reconciler status --format json``: a versioned document scripts can rely on.

``reconciler/schemas/status.schema.json`` describes it and docs/RESULTS.md explains it. The
CLI indents it on a terminal and writes it compact to a file or a pipe.
``format_version`` changes its major number only when a field is removed or changes meaning;
new fields may appear in a minor version, so readers should ignore fields they do not know.
"""

from __future__ import annotations

import json
from typing import Any, Final

from reconciler.results.gate import Gate
from reconciler.results.model import Counts, RunResult
from reconciler.results.summary import ResultRow, ResultSet
from reconciler.results.views.documents import findings_counts, run_head
from reconciler.results.views.tally import tally

#: 1.1 added ``findings`` to each run.
FORMAT_VERSION: Final = "1.1"


def status_document(results: ResultSet) -> dict[str, Any]:
    """The document as a dict, rows in key order."""
    counts = tally(results)
    return {
        "format_version": FORMAT_VERSION,
        "read_at": results.read_at,
        "runs": [_run(row) for row in results.rows],
        "summary": {
            "runs": counts.runs,
            "passed": counts.passed,
            "failed": counts.failed,
            "stillGoing": counts.still_going,
            "unreadable": counts.unreadable,
            "gone": counts.gone,
            "requests": results.requests,
        },
    }


def render_status_json(results: ResultSet, *, indent: bool) -> str:
    """The document as text: indented for a person to read, or compact for a program.

    The same document either way; only the whitespace between tokens differs. Compact is the
    one worth having at scale: Python's JSON encoder writes it in C, but any ``indent`` falls
    back to its pure-Python encoder, about five times slower (0.5 s of a 10,000-run
    ``status``, docs/PERFORMANCE.md).
    """
    document = status_document(results)
    if indent:
        return json.dumps(document, indent=2) + "\n"
    return json.dumps(document, separators=(",", ":")) + "\n"


def _run(row: ResultRow) -> dict[str, Any]:
    result = row.result
    return {
        **run_head(row),
        "executionDate": result.execution_date if result is not None else None,
        "seenAt": result.seen_at if result is not None else None,
        "url": row.url,
        "counts": _counts(row.counts),
        "probeRuns": [
            {
                "probeName": probe.probe_name,
                "probeRunId": probe.probe_run_id,
                "probeId": probe.probe_id,
                "status": probe.status,
                "counts": _counts(probe.counts),
            }
            for probe in (result.probe_runs if result is not None else ())
        ],
        "gate": _gate(row.gate),
        "verdict": {
            "outcome": row.verdict.outcome.value,
            "reasons": list(row.verdict.reasons),
            "notes": list(row.verdict.notes),
        },
        "previous": _previous(row.previous),
        "gone": row.gone,
        "error": row.error,
        "findings": findings_counts(row) if row.findings is not None else None,
    }


def _counts(counts: Counts) -> dict[str, int]:
    return {
        "total": counts.total,
        "passed": counts.passed,
        "failed": counts.failed,
        "errored": counts.errored,
    }


def _gate(gate: Gate) -> dict[str, Any]:
    # Limits not set are null; failOn is the effective list (the default when not set).
    return {
        "maxFailed": gate.max_failed,
        "maxFailedRate": gate.max_failed_rate,
        "maxErrored": gate.max_errored,
        "maxFailedIncrease": gate.max_failed_increase,
        "maxNewFindings": gate.max_new_findings,
        "failOn": list(gate.fail_on_statuses),
    }


def _previous(previous: RunResult | None) -> dict[str, Any] | None:
    if previous is None:
        return None
    return {
        "testRunId": previous.test_run_id,
        "status": previous.status,
        "counts": _counts(previous.counts),
    }
