"""reconciler.yaml: finding it, reading it, and where its values sit in the precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.commands.common import Session, Settings, load_desired
from reconciler.config import load_project_config
from reconciler.config_lookup import find_project_config
from reconciler.errors import ApiConfigError, SpecValidationError

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "project"


def test_the_nearest_config_is_found_and_the_walk_stops_at_the_repository_root(
    tmp_path: Path,
) -> None:
    (tmp_path / "reconciler.yaml").write_text("{}\n")
    repo = tmp_path / "repo"
    (repo / "a" / "b").mkdir(parents=True)
    assert find_project_config(repo / "a" / "b") == tmp_path / "reconciler.yaml"
    (repo / ".git").mkdir()
    assert find_project_config(repo / "a" / "b") is None
    (repo / "a" / "reconciler.yaml").write_text("{}\n")
    assert find_project_config(repo / "a" / "b") == repo / "a" / "reconciler.yaml"


def test_paths_are_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sub").mkdir()
    path = tmp_path / "reconciler.yaml"
    path.write_text("specs: [specs/, more.yaml]\nstate: st/s.json\n")
    monkeypatch.chdir(tmp_path / "sub")
    config = load_project_config(path, env={})
    assert config.spec_paths() == ["../specs", "../more.yaml"]
    assert config.state_location() == "../st/s.json"
    assert config.display == "../reconciler.yaml"
    path.write_text("state: postgresql://db/reconciler\n")
    assert load_project_config(path, env={}).state_location() == "postgresql://db/reconciler"


def test_errors_name_the_file_and_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "reconciler.yaml"
    path.write_text(
        "region: mars\napiUrl: https://x\nworkspaceId: ${WS}\nprobeSets: {'9': [1]}\nspec: []\n"
    )
    with pytest.raises(SpecValidationError) as info:
        load_project_config(path, env={"WS": "x"})
    found = {(e.line, e.field): e.message for e in info.value.errors}
    assert set(found) == {
        (1, "region"),
        (3, "workspaceId"),
        (4, "probeSets.9"),
        (5, "spec"),
    }
    assert found[(3, "workspaceId")] == "expected an integer, got 'x' (a string), from ${WS}"
    assert str(info.value).startswith("4 errors in the project config reconciler.yaml;")
    path.write_text("region: us\napiUrl: https://x\n")
    with pytest.raises(SpecValidationError, match=r"reconciler\.yaml:2: apiUrl: region and apiUrl"):
        load_project_config(path, env={})
    path.write_text("- a\n")
    with pytest.raises(SpecValidationError, match="expected a mapping of settings"):
        load_project_config(path, env={})


def test_a_missing_specs_path_is_an_error_at_its_line_in_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "a.yaml").write_text("workspaceId: 1\ntestRuns: {}\n")
    path = tmp_path / "reconciler.yaml"
    path.write_text("specs:\n  - specs\n  - nope\n")
    monkeypatch.chdir(tmp_path / "sub")
    settings = Settings(env={}, config=load_project_config(path, env={}))
    with pytest.raises(SpecValidationError) as info:
        load_desired([], settings)
    assert str(info.value).splitlines()[:2] == [
        "1 error in the project config ../reconciler.yaml; nothing was sent:",
        "../reconciler.yaml:3: specs: nope (from here: ../nope): no such file or directory",
    ]
    # Spec files with errors too: the heading names both.
    (tmp_path / "specs" / "a.yaml").write_text("workspaceId: x\ntestRuns: {}\n")
    with pytest.raises(SpecValidationError, match=r"^2 errors in the spec files and the project"):
        load_desired([], settings)
    # The same path given on the command line is the user's, not the config's.
    with pytest.raises(SpecValidationError) as given:
        load_desired(["../nope"], settings)
    assert str(given.value).splitlines()[1] == "../nope: no such file or directory"
    assert str(given.value).startswith("1 error in spec files")
    # Even when typed exactly as the config lists them.
    (tmp_path / "specs" / "a.yaml").write_text("workspaceId: 1\ntestRuns: {}\n")
    with pytest.raises(SpecValidationError) as typed:
        load_desired(settings.config.spec_paths(), settings)  # type: ignore[union-attr]
    assert str(typed.value).startswith("1 error in spec files")


def test_a_password_cannot_be_interpolated_into_the_state_url(tmp_path: Path) -> None:
    path = tmp_path / "reconciler.yaml"
    path.write_text("state: postgresql://app:${PGPASSWORD}@db/reconciler\n")
    with pytest.raises(SpecValidationError) as info:
        load_project_config(path, env={"PGPASSWORD": "s3cret-pw"})
    (error,) = info.value.errors
    assert (error.line, error.field) == (1, "state")
    assert "PGPASSWORD holds a secret" in error.message
    assert "s3cret-pw" not in str(info.value)


def session(config_text: str, tmp_path: Path, env: dict[str, str], **flags: str) -> Session:
    path = tmp_path / "reconciler.yaml"
    path.write_text(config_text)
    settings = Settings(env=env, config=load_project_config(path, env={}), **flags)  # type: ignore[arg-type]
    # Only its settings are read: its logging is given back at once.
    with Session(settings) as session:
        return session


def test_api_server_flags_then_environment_then_config(tmp_path: Path) -> None:
    config = "apiUrl: https://config.example\n"
    assert session(config, tmp_path, {}).api_server() == ("https://config.example", None)
    from_env = session(config, tmp_path, {"SPLX_API_URL": "https://env.example"})
    assert from_env.api_server() == (None, None)  # resolve_base_url reads the environment
    flagged = session(config, tmp_path, {}, region="us")
    assert flagged.api_server() == (None, "us")
    assert session("region: us\n", tmp_path, {}).api_server() == (None, "us")
    with pytest.raises(ApiConfigError, match=r"reconciler.yaml: apiUrl: refusing plain http"):
        session("apiUrl: http://example.com\n", tmp_path, {}).api_server()


def test_example_project_config_loads_and_plans(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(EXAMPLE)
    config = load_project_config(EXAMPLE / "reconciler.yaml", env={})
    desired = load_desired([], Settings(env={"STAGE": "staging"}, config=config))
    assert desired.files == ("specs/chatbots.yaml",)
    assert any("[" in key for key in desired.runs)
    assert {run.attributes.workspace_id for run in desired.runs.values()} == {1234}


def test_destroy_may_miss_the_default_specs_but_not_the_configs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    # No specs/ and no config: an empty set, so destroy can go on (with --force).
    assert load_desired([], Settings(env={}), missing_ok=True).runs == {}
    # A specs: path the config names must exist, even for destroy.
    path = tmp_path / "reconciler.yaml"
    path.write_text("specs:\n  - nope\n")
    settings = Settings(env={}, config=load_project_config(path, env={}))
    with pytest.raises(SpecValidationError, match=r"reconciler\.yaml:2: specs: nope"):
        load_desired([], settings, missing_ok=True)


def test_a_single_specs_path_may_be_written_as_a_string(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "reconciler.yaml"
    path.write_text("specs: team/\n")
    config = load_project_config(path, env={})
    assert config.spec_paths() == ["team"]
    with pytest.raises(SpecValidationError, match=r"reconciler\.yaml:1: specs: team/"):
        load_desired([], Settings(env={}, config=config))
