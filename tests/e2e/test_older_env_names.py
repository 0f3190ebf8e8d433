"""SPLXAI_API_KEY, SPLXAI_API_URL and SPLXAI_PLATFORM_URL stand in for unset SPLX_ names."""

from __future__ import annotations

from reconciler.simulator.server import SimulatorServer
from tests.e2e.conftest import API_KEY, Cli, Runner
from tests.e2e.harness import many_runs_spec

_OLDER_ONLY = {"SPLX_API_KEY": None, "SPLX_API_URL": None}


def test_the_older_names_apply_with_a_note_and_never_show_the_key(
    cli: Cli, sim: SimulatorServer
) -> None:
    cli.write_spec("runs.yaml", many_runs_spec(2))
    env = {
        **_OLDER_ONLY,
        "SPLXAI_API_KEY": API_KEY,
        "SPLXAI_API_URL": sim.url,
        "SPLXAI_PLATFORM_URL": "https://probe.example.test",
    }
    applied = cli.proc("apply", "--auto-approve", "--debug", env=env)
    assert applied.code == 0, applied.all
    assert len(sim.runs()) == 2
    notes = [line for line in applied.err.splitlines() if "older names" in line]
    assert notes == [
        "Note: read SPLXAI_API_KEY for SPLX_API_KEY, SPLXAI_API_URL for SPLX_API_URL, "
        "SPLXAI_PLATFORM_URL for SPLX_PLATFORM_URL (the older names; the SPLX_ names win "
        "when set)."
    ]
    assert "https://probe.example.test/" in applied.out  # the run links
    assert API_KEY not in applied.all


def test_the_splx_names_win_and_blank_counts_as_unset(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    cli.write_spec("runs.yaml", many_runs_spec(1))
    # The older key is wrong: were it used, the API would answer 401.
    both = run("apply", "--auto-approve", env={"SPLXAI_API_KEY": "revoked-older-key"})
    assert both.code == 0, both.all
    assert "older names" not in both.err
    cli.write_spec("runs.yaml", many_runs_spec(2))
    blank = run("apply", "--auto-approve", env={"SPLX_API_KEY": " ", "SPLXAI_API_KEY": API_KEY})
    assert blank.code == 0, blank.all
    assert "Note: read SPLXAI_API_KEY for SPLX_API_KEY " in blank.err
    assert len(sim.runs()) == 2


def test_quiet_keeps_the_note_back(cli: Cli, run: Runner, sim: SimulatorServer) -> None:
    cli.write_spec("runs.yaml", many_runs_spec(1))
    quiet = run(
        "plan", "-q", env={**_OLDER_ONLY, "SPLXAI_API_KEY": API_KEY, "SPLXAI_API_URL": sim.url}
    )
    assert quiet.code == 0, quiet.all
    assert quiet.err == ""


def test_the_older_key_is_a_secret_in_specs_too(cli: Cli, run: Runner) -> None:
    cli.write_spec(
        "runs.yaml",
        "workspaceId: 1\ntestRuns:\n  a:\n    targetId: 1\n    probeIds: [1]\n"
        "    name: ${SPLXAI_API_KEY}\n",
    )
    planned = run("plan", "--refresh=false", env={"SPLXAI_API_KEY": API_KEY})
    assert planned.code == 1
    assert "SPLXAI_API_KEY holds a secret" in planned.err
    assert API_KEY not in planned.all
