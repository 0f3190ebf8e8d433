"""``import KEY TEST_RUN_ID`` checks the id with the status endpoint when a key is set.

The client is the real one over a scripted transport (tests/results/scripted.py); the same
checks against the simulator are in tests/e2e/test_status.py.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from reconciler.commands.common import Settings
from reconciler.commands.state_cmds import import_run
from reconciler.errors import AuthenticationError, UsageError
from reconciler.state import LocalStateStore
from tests.results.scripted import API_KEY, PLATFORM, ScriptedSession, StatusServer, ok, status_doc

SPEC = """\
workspaceId: 1234
testRuns:
  sweep:
    targetId: 42
    probeIds: [101, 102]
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "runs.yaml").write_text(SPEC)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def do_import(
    project: Path, server: StatusServer, run_id: int, *, key: str | None = API_KEY
) -> int:
    env = {"NO_COLOR": "1", "SPLX_PLATFORM_URL": PLATFORM}
    if key is not None:
        env["SPLX_API_KEY"] = key
    settings = Settings(state=str(project / "state.json"), env=env)
    with ScriptedSession(settings, server) as session:
        return import_run(session, "sweep", run_id, [])


def state_of(project: Path) -> LocalStateStore:
    return LocalStateStore(project / "state.json")


def test_a_run_the_platform_does_not_know_is_refused(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = StatusServer({777: [httpx.Response(404)]})
    with pytest.raises(UsageError) as refused:
        do_import(project, server, 777)
    message = str(refused.value)
    assert "cannot import run 777 as 'sweep'" in message
    assert "no test run 777 in workspace 1234" in message
    assert server.asked == [777]
    assert not (project / "state.json").exists()


def test_an_ended_run_is_imported_with_its_result_recorded(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = StatusServer({778: [ok(status_doc(778, "FINISHED", failed=2))]})
    assert do_import(project, server, 778) == 0
    out = capsys.readouterr().out
    assert "Imported run 778 as sweep" in out
    assert "Finished, 18 passed, 2 failed, 0 errored of 20 (recorded: it has ended)" in out
    assert f"{PLATFORM}/w/1234/target/42/test-runs/778" in out
    run = state_of(project).read().runs["sweep"]
    assert run.test_run_id == 778
    assert run.result is not None and run.result.counts.failed == 2


def test_a_running_run_is_imported_without_a_result(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert do_import(project, StatusServer({779: [ok(status_doc(779, "Running"))]}), 779) == 0
    assert state_of(project).read().runs["sweep"].result is None


def test_other_probes_than_the_specs_are_a_warning_naming_both(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = StatusServer({780: [ok(status_doc(780, "Running", probe_ids=(101, 555)))]})
    assert do_import(project, server, 780) == 0
    err = capsys.readouterr().err
    assert "run 780 ran probes [101, 555], but 'sweep' declares probeIds [101, 102]" in err
    assert state_of(project).read().runs["sweep"].test_run_id == 780


def test_matching_probes_give_no_warning(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert do_import(project, StatusServer({781: [ok(status_doc(781))]}), 781) == 0
    assert "Warning" not in capsys.readouterr().err


def test_the_targets_configured_probes_are_not_compared(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "specs" / "runs.yaml").write_text(SPEC.replace("[101, 102]", "null"))
    server = StatusServer({783: [ok(status_doc(783, "Running", probe_ids=(101, 555)))]})
    assert do_import(project, server, 783) == 0
    assert "Warning" not in capsys.readouterr().err
    assert state_of(project).read().runs["sweep"].attributes.probe_ids is None


def test_a_check_that_cannot_be_made_imports_nothing(project: Path) -> None:
    server = StatusServer({782: [httpx.Response(503)]})
    with pytest.raises(UsageError, match=r"could not check it with the platform") as refused:
        do_import(project, server, 782)
    assert "unset SPLX_API_KEY to import it unchecked" in str(refused.value)
    assert not (project / "state.json").exists()


def test_a_rejected_key_ends_the_import(project: Path) -> None:
    with pytest.raises(AuthenticationError):
        do_import(project, StatusServer({783: [httpx.Response(401)]}), 783)
    assert not (project / "state.json").exists()


def test_without_a_key_the_id_is_trusted_and_that_is_said(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = StatusServer({})
    assert do_import(project, server, 784, key=None) == 0
    assert server.asked == []
    err = capsys.readouterr().err
    assert err == (
        "SPLX_API_KEY is not set: run 784 is imported as given, without checking that the "
        "platform knows it.\n"
    )
