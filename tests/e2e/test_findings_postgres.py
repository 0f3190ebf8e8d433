"""Findings with the state in PostgreSQL (``--state postgresql://...``) against the simulator:
recorded through the journal with the result, never read twice, the diff offline from the
database. The backend contract (tests/state/contract.py) covers the journal and a crash."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.simulator.server import SimulatorServer
from reconciler.state.postgres import PostgresStateStore
from tests.e2e.conftest import Cli, Runner
from tests.state.pg_fixtures import (  # noqa: F401 - fixtures, registered by import
    pg_dsn_fixture,
    pg_location_fixture,
    pg_schema_fixture,
    psycopg_module_fixture,
)

SPEC = """\
workspaceId: 1234
testRuns:
  sweep:
    targetId: 42
    probeIds: [101]
    revision: {night}
"""


@pytest.fixture
def cli(tmp_path: Path, sim: SimulatorServer, pg_location: str) -> Iterator[Cli]:
    with Cli(tmp_path, sim) as project:
        project.env["RECONCILER_STATE"] = pg_location
        yield project


def exports(sim: SimulatorServer) -> int:
    return sum(1 for r in sim.requests() if r.path.endswith("/test-cases/export"))


def test_findings_are_recorded_in_postgres_and_diffed_offline(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    sim.set_outcome(name="sweep", failed=4, finish_after=0)
    ids = []
    for night in (1, 2):
        cli.write_spec("runs.yaml", SPEC.format(night=night))
        assert run("apply", "--auto-approve").code == 0
        sim.advance_clock(1)
        shown = run("status")
        assert shown.code == 0, shown.all
        ids.append(PostgresStateStore(cli.env["RECONCILER_STATE"]).read().runs["sweep"].test_run_id)
    assert exports(sim) == 2
    assert "4 failed (1 new, 3 known; 1 fixed)" in shown.out

    state = PostgresStateStore(cli.env["RECONCILER_STATE"]).read()
    entry = state.runs["sweep"]
    assert entry.result is not None and entry.result.findings is not None
    assert len(entry.result.findings.records) == 4
    assert [r.findings is not None for r in entry.history] == [True]

    offline = run("findings", env={"SPLX_API_KEY": None})
    assert offline.code == 0, offline.all
    assert f"compared with run {ids[0]}" in offline.out
    assert run("status").code == 0 and exports(sim) == 2
