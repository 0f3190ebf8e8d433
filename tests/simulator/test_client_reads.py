"""The project's own API client reads what the simulator serves, in both status spellings."""

from __future__ import annotations

import pytest

from reconciler.api.client import ProbeClient
from reconciler.records import RunAttributes
from reconciler.simulator.server import SimulatorServer

from .conftest import KEY, FakeClock, MakeSim

WORKSPACE_PATH = "/api/workspaces/{workspaceId}/test-run/{testRunId}/status"


@pytest.mark.parametrize("case", ["product", "upper"])
@pytest.mark.parametrize("template", ["/api/v2/test-run/{testRunId}/status", WORKSPACE_PATH])
def test_the_client_follows_a_run_to_its_end(
    make_sim: MakeSim, clock: FakeClock, case: str, template: str
) -> None:
    sim: SimulatorServer = make_sim(clock=clock, status_case=case, finish_after=10)
    sim.set_outcome(name="night*", failed=3, errored=1)
    with ProbeClient(sim.url, KEY, status_path_template=template) as client:
        attributes = RunAttributes(workspace_id=4, target_id=42, probe_ids=(7, 8), name="nightly")
        run = client.trigger(attributes, key="nightly")
        seen = []
        for _ in range(3):
            result = client.get_status(4, run, key="nightly", seen_at="2026-12-02T00:00:00Z")
            assert result is not None
            seen.append(result)
            clock.advance(5)
        sim.delete_run(run)
        assert client.get_status(4, run, key="nightly", seen_at="x") is None
    assert [r.status.upper() for r in seen] == ["PENDING", "RUNNING", "FINISHED"]
    final = seen[-1]
    assert [p.probe_id for p in final.probe_runs] == [7, 8]
    assert sum(p.counts.failed for p in final.probe_runs) == 3
    assert sum(p.counts.errored for p in final.probe_runs) == 1
    assert sum(p.counts.total for p in final.probe_runs) == 40
