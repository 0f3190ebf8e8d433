"""Findings end to end against the simulator: recorded once and never read twice, read again
on ``--reread``, not read by ``plan`` or with ``--no-findings``, the diff offline from state, a
version 2 state upgraded, a crash's journal folded; and the ``maxNewFindings`` gate on
``wait`` (PRODUCT.md, "Findings"; issue 20, items 4 and 6).

A key ``sweep`` (probe 101) runs twice: night 1 and, after its revision is bumped, night 2.
The simulator slides each re-run's failed window by one, so night 2 has new, known and fixed
findings; a rule can force an attack (``CTLO-101-7``) to get through.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.results.findings import RecordedFindings
from reconciler.results.model import RunResult
from reconciler.simulator.config import KeyGrant, SimulatorConfig
from reconciler.simulator.server import SimulatorServer
from reconciler.state.local import LocalStateStore
from reconciler.state.model import JournalRecord
from tests.e2e.conftest import API_KEY, Cli, Result, Runner
from tests.e2e.harness import process_env

DATA = Path(__file__).resolve().parents[1] / "data" / "state"
SPEC = """\
workspaceId: 1234
testRuns:
  sweep:
    targetId: 42
    probeIds: [101]
    revision: {night}
{gate}"""
GATE = "    gate:\n      maxNewFindings: 0\n"
#: The attack a rule forces through on night 2.
FORCED = "CTLO-101-7"


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    config = SimulatorConfig(keys={API_KEY: KeyGrant(label="e2e")}, start_after=0.0)
    with SimulatorServer(config) as server:
        yield server


def exports(sim: SimulatorServer) -> int:
    return sum(1 for r in sim.requests() if r.path.endswith("/test-cases/export"))


def sweep(cli: Cli) -> dict[str, Any]:
    runs: dict[str, Any] = cli.state()["runs"]  # type: ignore[assignment]
    return runs["sweep"]  # type: ignore[no-any-return]


def night(cli: Cli, run: Runner, sim: SimulatorServer, number: int, *, gate: bool = False) -> int:
    """Apply night ``number`` of the sweep and let it end; its run id."""
    cli.write_spec("runs.yaml", SPEC.format(night=number, gate=GATE if gate else ""))
    applied = run("apply", "--auto-approve")
    assert applied.code == 0, applied.all
    sim.advance_clock(1)
    return int(sweep(cli)["testRunId"])


@pytest.fixture
def two_nights(cli: Cli, run: Runner, sim: SimulatorServer) -> tuple[int, int]:
    """Night 1 read and recorded; night 2 ended (forcing FORCED through), not read yet."""
    sim.set_outcome(name="sweep", failed=4, finish_after=0)
    first = night(cli, run, sim, 1)
    assert run("status").code == 0
    sim.set_outcome(name="sweep", failed=4, finish_after=0, fail_attacks=[FORCED])
    return first, night(cli, run, sim, 2)


def test_recorded_findings_are_never_read_twice_and_reread_records_the_new_answer(
    cli: Cli, run: Runner, sim: SimulatorServer, two_nights: tuple[int, int]
) -> None:
    _first, second = two_nights
    before = exports(sim)
    shown = run("status")
    assert shown.code == 0, shown.all
    assert exports(sim) == before + 1  # night 2's one failing probe run; night 1 is recorded
    line = next(line for line in shown.out.splitlines() if line.startswith("sweep:"))
    assert f"run {second}" in line and "4 failed (" in line and "known;" in line
    recorded = sweep(cli)["result"]["findings"]
    assert FORCED in {r.attack for r in RecordedFindings.model_validate(recorded).records}

    # Recorded: no command sends an export request for it again, in any format.
    for args in (("status",), ("status", "--format", "json"), ("findings",), ("wait",)):
        again = run(*args)
        assert again.code == 0, (args, again.all)
    for fmt in ("json", "markdown", "sarif"):
        assert run("findings", "--format", fmt).code == 0
    assert exports(sim) == before + 1
    assert sweep(cli)["result"]["findings"] == recorded

    # --reread asks again and records what the export says now (here: each attack twice).
    sim.set_export_fault("duplicates")
    reread = run("findings", "--reread")
    assert reread.code == 0, reread.all
    assert exports(sim) == before + 2  # night 2 only: night 1's findings are recorded
    now = RecordedFindings.model_validate(sweep(cli)["result"]["findings"])
    before_reread = RecordedFindings.model_validate(recorded)
    assert [r.fingerprint for r in now.records] == [r.fingerprint for r in before_reread.records]
    assert all(r.occurrences == 2 for r in now.records)
    assert run("findings").code == 0 and exports(sim) == before + 2


def test_plan_reads_no_findings_and_no_findings_skips_them(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    sim.set_outcome(name="sweep", failed=4, finish_after=0)
    night(cli, run, sim, 1)

    def statuses() -> int:
        return sum(1 for r in sim.requests() if r.path.endswith("/status"))

    before = statuses()
    planned = run("plan")
    assert planned.code == 0, planned.all
    assert statuses() == before + 1 and exports(sim) == 0  # the status, not the findings

    skipped = run("status", "--no-findings")
    assert skipped.code == 0, skipped.all
    assert "4 failed, 0 errored" in skipped.out and " new" not in skipped.out
    waited = run("wait", "--no-findings", "--interval", "10ms")
    assert waited.code == 0, waited.all
    assert exports(sim) == 0
    assert "findings" not in sweep(cli)["result"]  # the result is recorded, not the findings

    shown = run("status")  # now they are read, once
    assert shown.code == 0 and "4 failed (4 new, 0 known; 0 fixed)" in shown.out
    assert exports(sim) == 1


def test_the_diff_works_offline_from_state(
    cli: Cli, run: Runner, sim: SimulatorServer, two_nights: tuple[int, int]
) -> None:
    first, second = two_nights
    online = run("findings")
    assert online.code == 0, online.all
    before = len(sim.requests())
    # No key, and an API that is not there: everything comes from state.
    offline_env: dict[str, str | None] = {
        "SPLX_API_KEY": None,
        "SPLX_API_URL": "http://127.0.0.1:9",
    }
    offline = run("findings", env=offline_env)
    assert offline.code == 0, offline.all
    assert offline.out == online.out
    assert (
        f"compared with run {first}" in offline.out and f"fixed since run {first}:" in offline.out
    )
    status = run("status", "--format", "json", env=offline_env)
    assert status.code == 0, status.all
    (entry,) = json.loads(status.out)["runs"]
    assert entry["testRunId"] == second
    counts = entry["findings"]
    assert counts["previousRunId"] == first and counts["determined"] is True
    assert counts["newCount"] >= 1 and counts["knownCount"] >= 1 and counts["fixedCount"] >= 1
    assert len(sim.requests()) == before


def test_a_version_2_state_reads_and_is_upgraded_on_the_next_write(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    # The golden version 2 file reads as it is, offline, and reading never writes.
    cli.state_path.parent.mkdir(parents=True)
    shutil.copy(DATA / "golden-v2.json", cli.state_path)
    golden = cli.state_path.read_bytes()
    status = run("status", env={"SPLX_API_KEY": None})
    assert status.code == 0, status.all
    assert "chatbot-jailbreak: Finished, run 9001, 9 passed, 1 failed" in status.out
    # Its run failed a test case and no findings are recorded: findings, whose whole point
    # they are, says it cannot read them without the key, and what to do (exit 1).
    shown = run("findings", env={"SPLX_API_KEY": None})
    assert shown.code == 1, shown.all
    assert "findings not known: not read: SPLX_API_KEY is not set" in shown.out
    assert (
        "Error: the findings of 1 run are not recorded and could not be read without "
        "SPLX_API_KEY: chatbot-jailbreak. Set it to read them"
    ) in shown.err
    assert "Traceback" not in shown.all
    assert cli.state_path.read_bytes() == golden

    # A state an older reconciler left: results recorded, no findings, version 2.
    cli.state_path.unlink()
    sim.set_outcome(name="sweep", failed=4, finish_after=0)
    night(cli, run, sim, 1)
    assert run("status").code == 0 and exports(sim) == 1
    document = cli.state()
    del document["runs"]["sweep"]["result"]["findings"]  # type: ignore[index]
    document["version"] = 2
    cli.state_path.write_text(json.dumps(document, indent=2) + "\n")

    shown = run("status")
    assert shown.code == 0, shown.all
    assert "4 failed (4 new, 0 known; 0 fixed)" in shown.out
    assert exports(sim) == 2  # read for the result the older version recorded without them
    upgraded = cli.state()
    assert upgraded["version"] == 3
    assert len(sweep(cli)["result"]["findings"]["records"]) == 4


_CRASH_AFTER_APPEND = """
import sys, time
from pathlib import Path
from reconciler.state.local import LocalStateStore
from reconciler.state.model import JournalRecord
store = LocalStateStore(Path(sys.argv[1]))
records = [JournalRecord.model_validate_json(line) for line in sys.stdin]
with store.lock("status"):
    store.recover()
    for record in records:
        store.append(record)
    print("appended", flush=True)
    time.sleep(120)
"""


def test_findings_in_a_journal_left_by_a_crash_are_folded_on_the_next_start(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    sim.set_outcome(name="sweep", failed=4, finish_after=0)
    run_id = night(cli, run, sim, 1)
    unread = cli.state_path.read_bytes()
    assert run("status").code == 0
    result = RunResult.model_validate(sweep(cli)["result"])
    assert result.findings is not None and exports(sim) == 1
    # Back to before that status; then a status that dies (SIGKILL) after its journal records
    # (result, then findings) are durable and before the state is written.
    cli.state_path.write_bytes(unread)
    records = [
        JournalRecord(
            op="result",
            key="sweep",
            test_run_id=run_id,
            result=result.model_copy(update={"findings": None}),
        ),
        JournalRecord(op="findings", key="sweep", test_run_id=run_id, findings=result.findings),
    ]
    child = subprocess.Popen(
        [sys.executable, "-c", _CRASH_AFTER_APPEND, str(cli.state_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=process_env({}),
    )
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write("".join(r.model_dump_json(by_alias=True) + "\n" for r in records))
    child.stdin.close()
    assert child.stdout.readline().strip() == "appended"
    child.send_signal(signal.SIGKILL)
    child.wait(60)
    child.stdout.close()
    store = LocalStateStore(cli.state_path)
    assert store.journal_path.exists() and cli.state_path.read_bytes() == unread

    # Read offline, the journal's findings are there already (reading writes nothing).
    offline = run("findings", env={"SPLX_API_KEY": None})
    assert offline.code == 0, offline.all
    assert "4 failed (4 new, 0 known; 0 fixed)" in offline.out
    # status, with a key, sees them recorded (in the journal) and sends nothing for them;
    # with nothing new to record it writes nothing either.
    shown = run("status")
    assert shown.code == 0, shown.all
    assert "4 failed (4 new, 0 known; 0 fixed)" in shown.out
    assert exports(sim) == 1  # recorded by the journal: not read again
    # The next command that writes takes the dead process's lock over and folds the journal.
    applied = run("apply", "--auto-approve")
    assert applied.code == 0, applied.all
    assert not store.journal_path.exists(), applied.all
    assert exports(sim) == 1
    folded = sweep(cli)["result"]["findings"]
    assert RecordedFindings.model_validate(folded) == result.findings


def test_max_new_findings_0_fails_wait_naming_the_new_attack(
    cli: Cli, run: Runner, sim: SimulatorServer, two_nights: tuple[int, int]
) -> None:
    first, _second = two_nights
    cli.write_spec("runs.yaml", SPEC.format(night=2, gate=GATE))
    waited = run("wait", "--interval", "10ms")
    assert waited.code == 3, waited.all
    reason = next(line for line in waited.out.splitlines() if "new finding" in line)
    assert f"than the previous run {first}, at most 0 allowed" in reason
    assert FORCED in reason
    assert "Traceback" not in waited.all


def test_a_gate_on_new_findings_fails_closed_when_they_cannot_be_read(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    sim.set_outcome(name="sweep", failed=4, finish_after=0)
    night(cli, run, sim, 1, gate=True)
    sim.set_export_fault("status", status=500)
    flags = ("--interval", "10ms", "--max-attempts", "1")
    waited = run("wait", *flags)
    assert waited.code == 1, waited.all
    assert "maxNewFindings 0 cannot be checked" in waited.out
    assert "the gate of 1 run needs findings that could not be read: sweep" in waited.err
    assert "500" in waited.err

    # Without the gate the same failure is a warning: the run's verdict does not need them.
    cli.write_spec("runs.yaml", SPEC.format(night=1, gate=""))
    relaxed = run("wait", *flags)
    assert relaxed.code == 0, relaxed.all
    assert "Warning: findings of 'sweep'" in relaxed.err
    assert "passed: sweep" in relaxed.out
    status = run("status", "--max-attempts", "1")
    assert status.code == 0, status.all

    sim.clear_export_faults()
    healed = run("wait", *flags)
    assert healed.code == 0, healed.all
    assert warning_free(healed) and len(sweep(cli)["result"]["findings"]["records"]) == 4


def warning_free(result: Result) -> bool:
    return "Warning" not in result.err and "Traceback" not in result.all
