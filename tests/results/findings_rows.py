"""Result sets whose runs carry findings, for the view tests: a key's previous run and this
one share some attacks (known), each has its own (new, fixed), and content read now."""

from __future__ import annotations

from reconciler.results.findings import FindingRecord
from reconciler.results.findings_read import Finding, FindingsRead, Message
from reconciler.results.gate import Gate
from reconciler.results.model import Counts, ProbeRunResult, RunResult
from reconciler.results.observation import Observation, Refresh
from reconciler.results.summary import FindingsContext, ResultSet, build_results
from reconciler.state.model import TrackedRun
from tests.factories import attrs, finding, recorded

PLATFORM = "https://probe.splx.ai"
#: Planted in every message: it must never appear in a view without include_content.
MARKER = "SECRET-PROMPT-MARKER-7f3a"
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
#: An attack name from a hostile API: markup of every kind, a mention, a reference, a link.
HOSTILE = "A|B `x` <b>bold</b> @octocat #12 [l](https://evil.test) *s* _u_\nline2\x07"


def run_with(
    run_id: int, records: list[FindingRecord], *, probes: tuple[int, ...] = (101, 102)
) -> RunResult:
    """A finished run: each probe run fails as many test cases as it has findings."""
    probe_runs = []
    for index, probe in enumerate(probes):
        failed = sum(1 for r in records if r.probe_id == probe)
        probe_runs.append(
            ProbeRunResult(
                probe_name=f"Probe {probe}",
                probe_run_id=run_id * 10 + index,
                probe_id=probe,
                status="Finished",
                counts=Counts(total=100, passed=100 - failed, failed=failed),
            )
        )
    # Each record seen in the probe run of its probe.
    records = [
        r.model_copy(update={"probe_run_id": run_id * 10 + probes.index(r.probe_id or probes[0])})
        for r in records
    ]
    return RunResult(
        test_run_id=run_id,
        status="Finished",
        execution_date="2026-12-01T02:00:00Z",
        probe_runs=tuple(probe_runs),
        seen_at="2026-12-01T03:00:00Z",
        findings=recorded(*records),
    )


def attacks(probe: int, *names: str) -> list[FindingRecord]:
    return [finding(probe, name) for name in names]


def findings_set(*, content: bool = True, new_on_101: int = 3) -> ResultSet:
    """``leaky``: run 2001 against 1001 (known ``K1``, fixed ``F1``, new on both probes, one
    hostile); ``clean``: a run with no failure."""
    older = run_with(1001, [*attacks(101, "K1", "F1"), *attacks(102, "K2")])
    new = [*attacks(101, *(f"N{i:02d}" for i in range(new_on_101))), finding(102, HOSTILE)]
    current_records = [*attacks(101, "K1"), *attacks(102, "K2"), *new]
    current = run_with(2001, current_records)
    oldest = run_with(501, attacks(101, "K1"))
    leaky = TrackedRun(
        test_run_id=2001,
        attributes=attrs(target_id=42),
        triggered_at="2026-12-01T00:00:00Z",
        result=current,
        history=(oldest, older),
    )
    clean = TrackedRun(
        test_run_id=2002,
        attributes=attrs(target_id=43),
        triggered_at="2026-12-01T00:00:00Z",
        result=run_with(2002, []),
    )
    reads = {}
    if content:
        assert current.findings is not None
        reads[("leaky", 2001)] = FindingsRead(
            test_run_id=2001,
            findings=tuple(
                Finding(
                    record=record,
                    probe_name=None,
                    messages=(
                        Message("user", f"{MARKER} {SCRIPT} {IMG} ``` </pre> @octocat"),
                        Message("assistant", "x" * 2000),
                    ),
                )
                for record in current.findings.records
            ),
            recorded=current.findings,
        )
    refresh = Refresh(
        {
            "leaky": Observation("leaky", leaky, current, "state"),
            "clean": Observation("clean", clean, clean.result, "state"),
        }
    )
    return build_results(
        refresh,
        {"leaky": Gate(max_failed=0), "clean": Gate(max_failed=0)},
        platform=PLATFORM,
        read_at="2026-12-02T14:00:00Z",
        findings=FindingsContext(reads=reads),
    )
