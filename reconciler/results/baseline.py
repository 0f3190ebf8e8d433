"""Which findings a run is compared with: its own recorded ones against those of its key's
previous ended run. Apart from ``findings`` because it needs the result model, which itself
holds recorded findings."""

from __future__ import annotations

from reconciler.results.findings import FindingsDiff, RecordedFindings, diff
from reconciler.results.model import RunResult


def findings_of(result: RunResult) -> RecordedFindings | None:
    """What is known of an ended run's findings: the recorded ones; none at all for a run that
    failed no test case (nothing to read); None when it failed some and they are not recorded."""
    if result.findings is not None:
        return result.findings
    if result.counts.failed == 0:
        return RecordedFindings(read_at=result.seen_at)
    return None


def compare(result: RunResult, previous: RunResult | None) -> FindingsDiff | None:
    """``result``'s findings against ``previous`` (the key's previous ended run, or None): None
    when ``result``'s own findings are not known; undetermined when the previous run's are not."""
    current = findings_of(result)
    if current is None:
        return None
    ran = frozenset(p.probe_id for p in result.probe_runs)
    if previous is None:
        return diff(current, None, ran_probes=ran)
    before = findings_of(previous)
    if before is None:
        return FindingsDiff(
            current,
            determined=False,
            undetermined_because=(
                f"the findings of the previous run {previous.test_run_id} are not recorded"
            ),
            previous_run_id=previous.test_run_id,
        )
    return diff(current, before, ran_probes=ran, previous_run_id=previous.test_run_id)
