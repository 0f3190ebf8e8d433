"""``reconciler findings --format json``: a versioned document scripts can rely on.

``reconciler/schemas/findings.schema.json`` describes it and docs/FINDINGS.md explains it.
``format_version`` follows the status document's rule: its major number changes only when a
field is removed or changes meaning. Content (``messages``) is present only when asked for.
"""

from __future__ import annotations

import json
from typing import Any, Final

from reconciler.results.findings import FindingRecord
from reconciler.results.findings_read import Finding
from reconciler.results.summary import ResultRow, ResultSet
from reconciler.results.views.documents import findings_counts, run_head
from reconciler.results.views.findings_text import DEFAULT_VIEW, FindingsView

FORMAT_VERSION: Final = "1.0"


def findings_document(results: ResultSet, view: FindingsView = DEFAULT_VIEW) -> dict[str, Any]:
    """The document as a dict, rows in key order."""
    runs = [_run(row, view) for row in results.rows]
    return {
        "format_version": FORMAT_VERSION,
        "read_at": results.read_at,
        "contentIncluded": view.include_content,
        "newOnly": view.new_only,
        "runs": runs,
        "summary": {
            "runs": len(runs),
            "new": sum(r["findings"]["newCount"] for r in runs if r["findings"]["known"]),
            "known": sum(r["findings"]["knownCount"] for r in runs if r["findings"]["known"]),
            "fixed": sum(r["findings"]["fixedCount"] for r in runs if r["findings"]["known"]),
            "notKnown": sum(1 for r in runs if r["ended"] and not r["findings"]["known"]),
            "requests": results.requests,
        },
    }


def render_findings_json(results: ResultSet, view: FindingsView, *, indent: bool) -> str:
    """The document as text: indented for a person, compact for a program."""
    document = findings_document(results, view)
    if indent:
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False) + "\n"


def _run(row: ResultRow, view: FindingsView) -> dict[str, Any]:
    findings = row.findings
    diff = findings.diff if findings is not None else None
    read = findings.read if findings is not None else {}

    def items(records: tuple[FindingRecord, ...]) -> list[dict[str, Any]]:
        return [_finding(row, r, read.get(r.fingerprint), view) for r in records]

    return {
        **run_head(row),
        "failed": row.counts.failed if row.result is not None else None,
        "url": row.url,
        "gate": {"outcome": row.verdict.outcome.value, "reasons": list(row.verdict.reasons)},
        "specFile": row.spec_file,
        "specLine": row.spec_line,
        "findings": findings_counts(row),
        "new": items(diff.new) if diff is not None else [],
        "known": items(diff.known) if diff is not None and not view.new_only else [],
        "fixed": items(diff.fixed) if diff is not None and not view.new_only else [],
    }


def _finding(
    row: ResultRow, record: FindingRecord, read: Finding | None, view: FindingsView
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "fingerprint": record.fingerprint,
        "probeId": record.probe_id,
        "probeName": row.probe_name(record),
        "probeRunId": record.probe_run_id,
        "attack": record.attack,
        "variation": record.variation,
        "strategy": record.strategy,
        "redTeamer": record.red_teamer,
        "testCaseId": record.test_case_id,
        "detectedAt": record.detected_at,
        "occurrences": record.occurrences,
        "url": row.probe_url(record.probe_run_id),
    }
    if view.include_content:
        messages = read.messages if read is not None else ()
        item["messages"] = [
            {"role": m.role, "content": _cut(m.content, view.content_limit)} for m in messages
        ]
    return item


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f" [… {len(text) - limit:,} more characters cut]"
