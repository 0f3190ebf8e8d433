"""The test cases behind a probe run's counts, as the export answers them.

``ProbeRunCases`` is a snapshot the store takes under its lock (which slots, how many of each
result so far, when the probe run ran); building the test cases themselves (content included)
happens outside the lock. A probe run's FAILED test cases are always as many as its
``failedCount`` in the status document at the same moment, and likewise PASSED and ERROR:
a run still going has the first ones of its final lists.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from reconciler.simulator.catalogue import CaseSlots, messages, slot

#: Result values of test cases, as the export's ``filters.result`` spells them.
FAILED, ERROR, PASSED = "FAILED", "ERROR", "PASSED"
RESULTS = (FAILED, ERROR, PASSED)

TestCase = dict[str, object]


@dataclass(frozen=True, slots=True)
class ProbeRunCases:
    """One probe run's test cases as of a moment: their slots (final numbers) and how many of
    each result exist now (``counts``), between ``started`` and ``until`` (epoch seconds)."""

    workspace_id: int
    test_run_id: int
    probe_id: int
    probe_run_id: int
    slots: CaseSlots
    counts: dict[str, int]
    started: float
    until: float
    marker: str | None = None

    def test_cases(self, results: Iterable[str] = RESULTS) -> list[TestCase]:
        """The test cases whose result is one of ``results``, each result's in slot order."""
        chosen = {FAILED: self.slots.failed, ERROR: self.slots.errored, PASSED: self.slots.passed}
        cases: list[TestCase] = []
        for result in RESULTS:
            if result in results:
                indexes = chosen[result][: self.counts[result]]
                cases += [
                    self._case(index, result, n, len(indexes)) for n, index in enumerate(indexes)
                ]
        return cases

    def _case(self, index: int, result: str, position: int, of: int) -> TestCase:
        where = slot(self.probe_id, index)
        # Spread over the time the probe run ran, in order: the same every time it is asked
        # once the run has ended.
        detected = self.started + (self.until - self.started) * (position + 1) / (of + 1)
        return {
            "id": f"tc-{self.probe_run_id}-{index}",
            "attack": where.attack.attack_id,
            "variation": where.variation,
            "strategy": where.attack.strategy,
            "redTeamer": where.attack.red_teamer,
            "detectionTime": iso(detected),
            "result": result,
            "messages": messages(where, result, self.marker),
        }


def iso(epoch: float) -> str:
    """ISO-8601 UTC with milliseconds and ``Z``, as the status document writes dates."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch % 1 * 1000):03d}Z"
