"""Bad answers of the test-case export, end to end against the simulator (issue 20, "Bad
input"): each is one line naming the run (key and run id), the probe run and what to do, no
traceback; the other runs are shown and their findings recorded; nothing read in part is
recorded, so the next command reads the failed ones again; ``findings`` exits 1, ``status`` 1
only when a gate needs the unread findings (PRODUCT.md, "Findings").

Two runs end at once: ``alpha`` (probe 101, 3 failed) and ``beta`` (probe 103, 2 failed); the
export of ``alpha`` answers badly, ``beta``'s well.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from reconciler.results.findings import RecordedFindings
from reconciler.simulator.config import KeyGrant, SimulatorConfig
from reconciler.simulator.server import SimulatorServer
from tests.e2e.conftest import API_KEY, Cli, Result, Runner

SPEC = """\
workspaceId: 1234
testRuns:
  alpha:
    targetId: 42
    probeIds: [101]
  beta:
    targetId: 43
    probeIds: [103]
"""
#: The same runs, gated on new findings (``status gated/``): the findings become needed.
GATED = SPEC.replace("testRuns:\n", "defaults:\n  gate:\n    maxNewFindings: 10\ntestRuns:\n")
#: Quick retries: two attempts, a short wait (the delays are tested in tests/api).
FAST = ("--max-attempts", "2", "--retry-max-delay", "10ms")


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    config = SimulatorConfig(keys={API_KEY: KeyGrant(label="e2e")}, start_after=0.0, retry_after=0)
    with SimulatorServer(config) as server:
        yield server


@dataclass
class Ended:
    """The two runs, ended with failures, nothing read about them yet."""

    ids: dict[str, int]
    #: alpha's probe run id (the export's path names it).
    probe_run: int
    #: Exports already answered before the test's command.
    exports: dict[str, int] = field(default_factory=dict)


def exports_of(sim: SimulatorServer, probe_run_id: int) -> int:
    path = f"/probe-run/{probe_run_id}/test-cases/export"
    return sum(1 for r in sim.requests() if r.path.endswith(path))


def state_runs(cli: Cli) -> dict[str, Any]:
    runs: dict[str, Any] = cli.state()["runs"]  # type: ignore[assignment]
    return runs


def ended(
    cli: Cli, run: Runner, sim: SimulatorServer, *, alpha: dict[str, Any] | None = None
) -> Ended:
    sim.set_outcome(name="alpha", **(alpha or {"failed": 3}), finish_after=0)
    sim.set_outcome(name="beta", failed=2, finish_after=0)
    cli.write_spec("runs.yaml", SPEC)
    (cli.root / "gated").mkdir()
    (cli.root / "gated" / "runs.yaml").write_text(GATED)
    applied = run("apply", "--auto-approve")
    assert applied.code == 0, applied.all
    sim.advance_clock(1)
    ids = {key: entry["testRunId"] for key, entry in state_runs(cli).items()}
    cases = sim.test_cases(ids["alpha"])
    assert cases is not None
    return Ended(ids, next(iter(cases)))


def warning_lines(result: Result, key: str) -> list[str]:
    return [
        line for line in result.err.splitlines() if line.startswith(f"Warning: findings of {key!r}")
    ]


def assert_named_once(result: Result, run: Ended, *fragments: str) -> str:
    """One warning line about alpha naming its run, its probe run and the fragments."""
    lines = warning_lines(result, "alpha")
    assert len(lines) == 1, result.err
    line = lines[0]
    assert f"(run {run.ids['alpha']}, probe 'Probe 101', probe run {run.probe_run}," in line
    for fragment in fragments:
        assert fragment in line, line
    assert "Traceback" not in result.all
    return line


def assert_beta_recorded(cli: Cli, result: Result) -> None:
    assert "beta: Finished" in result.out and "2 failed (2 new, 0 known; 0 fixed)" in result.out
    beta = state_runs(cli)["beta"]["result"]
    assert len(beta["findings"]["records"]) == 2


#: Each fault that spoils one probe run (not the command): the export fault, what the line says.
#: A status is looked for as "HTTP 500", not "500": the listing's timestamps may hold ".500Z".
NOT_FATAL: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "404": ({"kind": "status", "status": 404}, ("404 Not Found", "findingsPath")),
    "405": ({"kind": "status", "status": 405}, ("405 Method Not Allowed", "findingsPath")),
    "429": ({"kind": "status", "status": 429}, ("HTTP 429", "after 2 attempts", "later")),
    "500": ({"kind": "status", "status": 500}, ("HTTP 500", "after 2 attempts", "Try again later")),
    "html": ({"kind": "html"}, ("200 with an HTML page", "findingsPath")),
    "not-json": ({"kind": "not-json"}, ("200 with a body that is not JSON", "findingsPath")),
    "no-list": ({"kind": "no-list"}, ("no list of test cases", "top-level keys: message, total")),
    "timeout": ({"kind": "delay", "seconds": 2.0}, ("timeout", "after 2 attempts", "later")),
}


@pytest.mark.parametrize("fault", list(NOT_FATAL), ids=list(NOT_FATAL))
def test_a_bad_export_spoils_one_run_is_said_in_one_line_and_read_again_next_time(
    cli: Cli, run: Runner, sim: SimulatorServer, fault: str
) -> None:
    spec, fragments = NOT_FATAL[fault]
    runs = ended(cli, run, sim)
    sim.set_export_fault(spec.pop("kind"), name="alpha", **spec)
    flags = (*FAST, "--request-timeout", "300ms")

    # Without a gate that needs them, status shows everything, warns, and exits 0.
    shown = run("status", *flags)
    assert shown.code == 0, shown.all
    assert_named_once(shown, runs, *fragments, "its findings were not read")
    assert "alpha: Finished" in shown.out and "3 failed (findings not read)" in shown.out
    assert_beta_recorded(cli, shown)
    alpha = state_runs(cli)["alpha"]
    assert alpha["result"]["status"] == "Finished"  # the result is recorded...
    assert "findings" not in alpha["result"]  # ...its findings are not: read again next time
    if fault == "no-list":
        assert "ok" not in assert_named_once(shown, runs).split("top-level keys")[1]

    # A gate that needs them fails closed: exit 1, saying which run and why.
    gated = run("status", "gated", *flags)
    assert gated.code == 1, gated.all
    assert_named_once(gated, runs, *fragments)
    assert "maxNewFindings 10 cannot be checked" in gated.out
    assert "the gate of 1 run needs findings that could not be read: alpha" in gated.err

    # findings needs them all: exit 1, beta's listed anyway.
    listed = run("findings", *flags)
    assert listed.code == 1, listed.all
    assert_named_once(listed, runs, *fragments)
    assert "could not read everything needed for 1 run: alpha" in listed.err
    assert "PINJ-103-" in listed.out
    assert listed.out.count(fragments[0]) == 1, listed.out  # said once per view, not twice

    # Once the export answers, the next command reads alpha (only) and records it.
    sim.clear_export_faults()
    before = exports_of(sim, runs.probe_run)
    beta_probe = state_runs(cli)["beta"]["result"]["probeRuns"][0]["probeRunId"]
    beta_exports = exports_of(sim, beta_probe)
    healed = run("status", *flags)
    assert healed.code == 0, healed.all
    assert "3 failed (3 new, 0 known; 0 fixed)" in healed.out
    assert exports_of(sim, runs.probe_run) == before + 1
    assert exports_of(sim, beta_probe) == beta_exports  # recorded: never read twice
    assert len(state_runs(cli)["alpha"]["result"]["findings"]["records"]) == 3


@pytest.mark.parametrize("status", [401, 403])
def test_401_and_403_stop_the_command_and_lose_nothing(
    cli: Cli, run: Runner, sim: SimulatorServer, status: int
) -> None:
    runs = ended(cli, run, sim)
    sim.set_export_fault("status", name="alpha", status=status)
    for command in ("status", "findings"):
        stopped = run(command, *FAST)
        assert stopped.code == 1, stopped.all
        lines = [line for line in stopped.err.splitlines() if line.strip()]
        assert len(lines) == 1, stopped.err
        assert lines[0].startswith(f"Error: findings of 'alpha' (run {runs.ids['alpha']}, ")
        assert f"probe run {runs.probe_run}" in lines[0]
        assert "SPLX_API_KEY" in lines[0] and "nothing more is read" in lines[0]
        assert str(status) in lines[0] and "Traceback" not in stopped.all
        assert API_KEY not in stopped.all
        assert exports_of(sim, runs.probe_run) == 1 if command == "status" else 2  # not retried
        # The statuses read before the refusal are kept (the next command need not read them
        # again); no findings are recorded.
        for entry in state_runs(cli).values():
            assert entry["result"]["status"] == "Finished" and "findings" not in entry["result"]

    sim.clear_export_faults()
    healed = run("status")
    assert healed.code == 0, healed.all
    assert "3 failed (3 new, 0 known; 0 fixed)" in healed.out
    assert_beta_recorded(cli, healed)


def test_a_429_is_retried_and_then_read(cli: Cli, run: Runner, sim: SimulatorServer) -> None:
    runs = ended(cli, run, sim)
    sim.set_export_fault("status", name="alpha", status=429, times=1)
    shown = run("status", *FAST)
    assert shown.code == 0, shown.all
    assert warning_lines(shown, "alpha") == []
    assert "3 failed (3 new, 0 known; 0 fixed)" in shown.out
    answered = [
        r.status for r in sim.requests() if r.path.endswith(f"/{runs.probe_run}/test-cases/export")
    ]
    assert answered == [429, 200]
    assert len(state_runs(cli)["alpha"]["result"]["findings"]["records"]) == 3


def test_duplicates_are_merged_and_counted(cli: Cli, run: Runner, sim: SimulatorServer) -> None:
    ended(cli, run, sim)
    sim.set_export_fault("duplicates", name="alpha")
    shown = run("status")
    assert shown.code == 0, shown.all
    assert "3 failed (3 new, 0 known; 0 fixed)" in shown.out
    findings = RecordedFindings.model_validate(state_runs(cli)["alpha"]["result"]["findings"])
    assert len(findings.records) == 3 and all(r.occurrences == 2 for r in findings.records)
    listed = run("findings", "--target", "alpha")
    assert listed.code == 0, listed.all
    assert listed.out.count(", 2 test cases") == 3


def test_test_cases_without_attack_fields_say_new_and_known_cannot_be_told_apart(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    runs = ended(cli, run, sim)
    sim.set_export_fault("no-attack", name="alpha")
    shown = run("status")
    assert shown.code == 0, shown.all
    # Three test cases whose attack nobody named are three findings, not one merged finding,
    # and the run says they cannot be recognised in another run.
    assert "3 failed (3 new, 0 known; 0 fixed; new and known not told apart)" in shown.out
    records = state_runs(cli)["alpha"]["result"]["findings"]["records"]
    assert len(records) == 3 and not any("attack" in r for r in records)
    listed = run("findings", "--target", "alpha")
    assert "new and known cannot be told apart: the export named no attack" in listed.out
    assert listed.out.count(f"test case tc-{runs.probe_run}-") == 3

    # A gate on new findings counts all three as new: it fails, naming why.
    gated = run("status", "gated", "--target", "alpha")
    assert gated.code == 0, gated.all  # 3 <= 10
    strict = cli.root / "strict.yaml"
    strict.write_text(GATED.replace("maxNewFindings: 10", "maxNewFindings: 2"))
    failing = run("status", str(strict), "--target", "alpha")
    assert failing.code == 3, failing.all
    assert "3 findings that cannot be told from known ones" in failing.out


def test_more_than_200_failed_test_cases_records_200_and_counts_the_rest(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    runs = ended(cli, run, sim, alpha={"failed": {101: 250}})
    shown = run("status")
    assert shown.code == 0, shown.all
    assert "250 failed (250 new, 0 known; 0 fixed)" in shown.out
    recorded = state_runs(cli)["alpha"]["result"]["findings"]
    assert len(recorded["records"]) == 200 and recorded["more"] == 50
    listed = run("findings", "--target", "alpha", "--format", "json")
    assert listed.code == 0, listed.all
    document = json.loads(listed.out)
    (alpha,) = document["runs"]
    assert alpha["testRunId"] == runs.ids["alpha"]
    text = run("findings", "--target", "alpha")
    assert "and 50 more findings not recorded (only the first are kept)" in text.out


def test_a_probe_run_without_probe_run_id_is_named_and_nothing_is_sent(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    runs = ended(cli, run, sim, alpha={"failed": 3, "omit_probe_run_id": True})
    shown = run("status")
    assert shown.code == 0, shown.all
    lines = warning_lines(shown, "alpha")
    assert len(lines) == 1, shown.err
    assert f"(run {runs.ids['alpha']}, probe 'Probe 101', probe run without id," in lines[0]
    assert "no probeRunId" in lines[0] and "see its test cases in the SPLX Probe UI" in lines[0]
    # Not "read the status again": an ended run's status is never read again.
    assert "status again later" not in lines[0]
    assert exports_of(sim, runs.probe_run) == 0
    assert_beta_recorded(cli, shown)
    assert "findings" not in state_runs(cli)["alpha"]["result"]
    # The next command tries again (and says so again), still sending nothing.
    again = run("findings")
    assert again.code == 1 and len(warning_lines(again, "alpha")) == 1, again.all
    assert exports_of(sim, runs.probe_run) == 0
