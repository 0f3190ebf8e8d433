"""The CLI with ``--state postgresql://...#name`` against the simulator and a real PostgreSQL:
the everyday commands, ``state copy`` to and from a file, kill -9 in the middle of an apply,
and two applies racing for the same state.

The server is the session's throwaway one (``tests/state/pg_fixtures.py``); every test works in
a schema of its own.
"""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.simulator.server import SimulatorServer
from reconciler.state.local import LocalStateStore
from reconciler.state.model import State
from reconciler.state.postgres import PostgresStateStore, parse_postgres_url
from tests.e2e.conftest import SPEC_TWO_RUNS, Cli, Runner
from tests.e2e.harness import many_runs_spec, triggers_per_key
from tests.polling import wait_until
from tests.state.pg_fixtures import (  # noqa: F401 - fixtures, registered by import
    pg_dsn_fixture,
    pg_location_fixture,
    pg_schema_fixture,
    psycopg_module_fixture,
)

#: Simulated network latency of every API request in the kill and race tests.
LATENCY = 0.03


@pytest.fixture
def cli(tmp_path: Path, sim: SimulatorServer, pg_location: str) -> Iterator[Cli]:
    """The conftest's CLI, with its state in PostgreSQL instead of a file."""
    with Cli(tmp_path, sim) as project:
        project.env["RECONCILER_STATE"] = pg_location
        yield project


def pg_state(cli: Cli) -> State:
    """What the CLI's state holds now, journal folded in (read-only)."""
    return PostgresStateStore(cli.env["RECONCILER_STATE"]).read()


# --- the everyday commands ------------------------------------------------------------------


def test_apply_plan_and_state_commands_on_postgres(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    applied = run("apply", "--auto-approve")
    assert applied.code == 0, applied.all
    state = pg_state(cli)
    ids = {r["testRunId"] for r in sim.runs()}
    assert {entry.test_run_id for entry in state.runs.values()} == ids
    assert state.serial == 1
    assert not (cli.root / "state").exists(), "nothing is written to the default state file"
    assert run("plan", "--detailed-exitcode").code == 0

    listed = run("state", "list")
    assert listed.code == 0, listed.all
    assert "chatbot-jailbreak" in listed.out and "support-bot-injection" in listed.out
    run_id = state.runs["chatbot-jailbreak"].test_run_id
    assert run("state", "rm", "chatbot-jailbreak").code == 0
    assert "chatbot-jailbreak" not in pg_state(cli).runs
    assert run("plan", "--detailed-exitcode").code == 2
    imported = run("import", "chatbot-jailbreak", str(run_id))
    assert imported.code == 0, imported.all
    assert pg_state(cli).runs["chatbot-jailbreak"].test_run_id == run_id
    assert run("plan", "--detailed-exitcode").code == 0
    assert len(sim.runs()) == 2, "import and state rm send nothing"
    assert pg_state(cli).lineage == state.lineage
    # The password of the test server's URL is in no output.
    secrets = parse_postgres_url(cli.env["RECONCILER_STATE"]).secrets
    assert secrets and not any(s in listed.all + imported.all for s in secrets)


def test_force_unlock_frees_a_hung_apply_and_its_trigger_becomes_unknown(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    sim.set_faults(latency=2.0)  # the first apply hangs on its requests
    hung = cli.popen("apply", "--auto-approve", "--parallelism", "1")
    store = PostgresStateStore(cli.env["RECONCILER_STATE"])
    wait_until(lambda: bool(store.journal()))  # it holds the lock and sent a trigger
    holder = store.lock_holder()
    assert holder is not None

    blocked = run("apply", "--auto-approve")
    assert blocked.code == 1
    assert f"force-unlock {holder.id}" in blocked.err
    assert "held by" in blocked.err

    unlocked = run("force-unlock", holder.id)
    assert unlocked.code == 0, unlocked.all
    assert holder.id in unlocked.out
    out, err = hung.communicate(timeout=30)
    assert hung.returncode != 0, "an apply whose lock was removed must not succeed"
    assert "PostgreSQL state" in err, out + err

    sim.set_faults(latency=0.0)
    state = pg_state(cli)
    unknown = [key for key, entry in state.runs.items() if entry.status == "unknown"]
    assert len(unknown) == 1, state.runs
    listed = run("state", "list")
    assert f"{unknown[0]}\tunknown\tunknown" in listed.out
    # The user resolves it: the simulator did create the run, so import it.
    wait_until(lambda: len(sim.runs()) == 1)
    created = sim.runs()[0]["testRunId"]
    assert run("import", unknown[0], str(created)).code == 0
    finished = run("apply", "--auto-approve")
    assert finished.code == 0, finished.all
    assert sorted(triggers_per_key(sim).values()) == [1, 1], "nothing was triggered twice"


# --- state copy -----------------------------------------------------------------------------


def test_state_copy_moves_a_file_state_to_postgres_and_back(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    url = cli.env["RECONCILER_STATE"]
    file_state = str(cli.root / "state" / "reconciler.state.json")
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    assert run("apply", "--auto-approve", env={"RECONCILER_STATE": file_state}).code == 0
    original = LocalStateStore(Path(file_state)).read()

    copied = run("state", "copy", file_state, url)
    assert copied.code == 0, copied.all
    assert f"serial {original.serial}" in copied.out
    assert pg_state(cli) == original
    assert run("plan", "--detailed-exitcode").code == 0, "the copy is the same state"

    # Moving on in PostgreSQL, then copying back over the older file, updates it.
    assert run("state", "rm", "support-bot-injection").code == 0
    back = run("state", "copy", url, file_state)
    assert back.code == 0, back.all
    returned = LocalStateStore(Path(file_state)).read()
    assert (returned.lineage, returned.serial) == (original.lineage, original.serial + 1)
    assert set(returned.runs) == {"chatbot-jailbreak"}

    # Another state (another lineage) is never overwritten, in either direction.
    other_file = str(cli.root / "other" / "reconciler.state.json")
    cli.write_spec("runs.yaml", many_runs_spec(1))
    assert run("apply", "--auto-approve", env={"RECONCILER_STATE": other_file}).code == 0
    for source, target in ((other_file, url), (url, other_file)):
        refused = run("state", "copy", source, target)
        assert refused.code == 1
        assert "another state" in refused.err
    assert pg_state(cli) == returned
    assert len(sim.runs()) == 3


# --- kill -9 and concurrency ----------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_kill_9_during_apply_loses_no_run_and_triggers_none_twice(
    cli: Cli, run: Runner, sim: SimulatorServer, seed: int
) -> None:
    rng = random.Random(seed)
    keys = 12
    cli.write_spec("runs.yaml", many_runs_spec(keys))
    sim.set_faults(latency=LATENCY)
    apply = cli.popen("apply", "--auto-approve", "--parallelism", "3")
    # Kill at a random point: sometimes before the lock is even taken, mostly mid-apply.
    wait_for = rng.randrange(0, keys)
    if wait_for == 0:
        time.sleep(rng.uniform(0.0, 0.6))
    else:
        wait_until(lambda: sim.trigger_count() >= wait_for or apply.poll() is not None)
        time.sleep(rng.uniform(0.0, LATENCY))
    apply.kill()
    apply.communicate(timeout=30)
    sent = sim.trigger_count()
    context = f"seed {seed}, killed after {sent} triggers"

    state = pg_state(cli)
    for created in sim.runs():
        entry = state.runs.get(str(created["name"]))
        assert entry is not None, f"run {created['testRunId']} is not in state ({context})"
        assert entry.status == "unknown" or entry.test_run_id == created["testRunId"], context
    # Nothing in state that the API did not create, except unknown outcomes.
    ids = {created["testRunId"] for created in sim.runs()}
    for key, entry in state.runs.items():
        assert entry.status == "unknown" or entry.test_run_id in ids, f"{key} ({context})"

    again = run("apply", "--auto-approve")
    unknown = any(entry.status == "unknown" for entry in state.runs.values())
    # Unknown outcomes are left for the user, and apply exits 1 until they are resolved.
    assert again.code == (1 if unknown else 0), f"{context}: {again.all}"
    if apply.returncode == -9 and sent > 0:  # it died holding the lock
        assert "took over a stale lock" in again.err, context
    if unknown:
        assert "unknown outcome" in again.all.lower(), context
    counts = triggers_per_key(sim)
    assert max(counts.values()) == 1, f"a run was triggered twice ({context}): {counts}"
    final = pg_state(cli)
    assert set(final.runs) == {f"run-{n:03d}" for n in range(keys)}, context
    assert PostgresStateStore(cli.env["RECONCILER_STATE"]).journal() == []


def test_second_concurrent_apply_fails_naming_the_holder(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    keys = 10
    cli.write_spec("runs.yaml", many_runs_spec(keys))
    sim.set_faults(latency=0.1)  # the first apply holds the lock for a second at least
    first = cli.popen("apply", "--auto-approve", "--parallelism", "1")
    wait_until(lambda: sim.trigger_count() >= 1)  # it holds the lock now
    second = run("apply", "--auto-approve")
    assert first.poll() is None, "the first apply ended too early for this test"
    assert second.code == 1
    found = re.search(r"is locked: lock (\S+) held by \S+ \(pid (\d+)\) for 'apply'", second.err)
    assert found, second.err
    assert int(found.group(2)) == first.pid
    assert "--lock-timeout" in second.err
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, out + err
    assert triggers_per_key(sim) == Counter({f"run-{n:03d}": 1 for n in range(keys)})


def test_concurrent_applies_with_lock_timeout_run_one_after_the_other(
    cli: Cli, sim: SimulatorServer
) -> None:
    keys = 10
    cli.write_spec("runs.yaml", many_runs_spec(keys))
    sim.set_faults(latency=LATENCY)
    command = ("apply", "--auto-approve", "--parallelism", "1", "--lock-timeout", "60s")
    applies = [cli.popen(*command) for _ in range(2)]
    outputs = [p.communicate(timeout=90) for p in applies]
    assert [p.returncode for p in applies] == [0, 0], outputs
    assert triggers_per_key(sim) == Counter({f"run-{n:03d}": 1 for n in range(keys)})
    assert sum("No changes" in out for out, _err in outputs) == 1, outputs
    assert pg_state(cli).serial == 1


def test_kill_leaves_a_lock_the_next_apply_takes_over(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    cli.write_spec("runs.yaml", many_runs_spec(4))
    sim.set_faults(latency=0.5)
    apply = cli.popen("apply", "--auto-approve", "--parallelism", "1")
    store = PostgresStateStore(cli.env["RECONCILER_STATE"])
    wait_until(lambda: bool(store.journal()))
    holder = store.lock_holder()
    assert holder is not None
    apply.kill()
    apply.communicate(timeout=30)
    sim.set_faults(latency=0.0)
    unknown = any(entry.status == "unknown" for entry in pg_state(cli).runs.values())
    again = run("apply", "--auto-approve")
    assert again.code == (1 if unknown else 0), again.all  # unknowns wait for the user
    assert f"took over a stale lock: lock {holder.id}" in again.err
    assert store.lock_holder() is None
    assert max(triggers_per_key(sim).values()) == 1


def test_commands_that_only_read_need_no_lock(cli: Cli, run: Runner) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    store = PostgresStateStore(cli.env["RECONCILER_STATE"])
    with store.lock("apply"):
        assert run("plan", "--detailed-exitcode").code == 2
        assert run("state", "list").code == 0
        blocked = run("state", "rm", "chatbot-jailbreak")
        assert blocked.code == 1
        assert "is locked" in blocked.err
