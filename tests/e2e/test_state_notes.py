"""What a state store notices without failing (``StateStore.notes``) reaches the user as a
warning on stderr, from the read-only ``plan`` and from ``apply``."""

from __future__ import annotations

from reconciler.simulator.server import SimulatorServer
from reconciler.state.local import LocalStateStore
from reconciler.state.model import JournalRecord
from tests.e2e.conftest import SPEC_TWO_RUNS, Cli, Runner


def test_a_dropped_torn_journal_line_is_reported_by_plan_and_apply(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    assert run("apply", "--auto-approve").code == 0
    # An apply that died while writing a journal line: one whole record, then half of one.
    store = LocalStateStore(cli.state_path)
    with store.lock("apply"):
        store.recover()
        store.append(JournalRecord(op="cancel-intent", key="chatbot-jailbreak", test_run_id=1))
    journal = cli.state_path.with_name(cli.state_path.name + ".journal")
    with journal.open("ab") as f:
        f.write(b'{"op":"cancel-done","key":"chatbot-jail')

    planned = run("plan")
    assert planned.code == 0, planned.all
    assert "Warning:" in planned.err
    assert "incomplete last line" in planned.err
    assert "incomplete" not in planned.out, "warnings go to stderr, the plan to stdout"
    assert journal.exists(), "plan only reads"

    applied = run("apply", "--auto-approve")
    assert applied.code == 0, applied.all
    assert "incomplete last line" in applied.err
    assert not journal.exists(), "apply recovered the journal"
    assert len(sim.runs()) == 2
