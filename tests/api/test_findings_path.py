"""The findings path template: checked like the status path, chosen env > config > default."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reconciler.api.endpoints import (
    DEFAULT_FINDINGS_PATH,
    check_findings_path,
    check_status_path,
    findings_path,
)
from reconciler.commands.common import Session, Settings
from reconciler.config import config_json_schema, load_project_config
from reconciler.errors import ApiConfigError

from .conftest import API_KEY


def test_the_default_is_the_documented_export() -> None:
    assert findings_path(DEFAULT_FINDINGS_PATH, 12, 3456) == (
        "/api/workspaces/12/probe-run/3456/test-cases/export"
    )
    assert findings_path("/v3/probe-runs/{probeRunId}/export", 12, 3456) == (
        "/v3/probe-runs/3456/export"
    )


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("api/{probeRunId}", "must start with / and hold no spaces, query or fragment"),
        ("/api/{probeRunId}?x=1", "must start with / and hold no spaces, query or fragment"),
        ("/api/{probeRunId} /x", "must start with / and hold no spaces, query or fragment"),
        ("/api/{testRunId}/{probeRunId}", "unknown placeholder {testRunId}; the known ones are "),
        ("/api/workspaces/{workspaceId}", "has no {probeRunId} placeholder, so every call would"),
        ("/api/{probeRunId}}", "has an unmatched brace"),
    ],
)
def test_a_bad_template_names_its_source_and_the_fix(template: str, problem: str) -> None:
    with pytest.raises(ApiConfigError) as caught:
        check_findings_path(template, source="RECONCILER_FINDINGS_PATH")
    message = str(caught.value)
    assert message.startswith("RECONCILER_FINDINGS_PATH: the findings path")
    assert problem in message
    assert message.endswith(f"e.g. {DEFAULT_FINDINGS_PATH}") or "brace" in problem


def test_the_status_path_keeps_its_own_placeholders() -> None:
    assert check_status_path("/s/{workspaceId}/{testRunId}", source="x")
    with pytest.raises(ApiConfigError, match=r"unknown placeholder \{probeRunId\}"):
        check_status_path("/s/{probeRunId}/{testRunId}", source="x")


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[Callable[..., Session]]:
    """``sessions(env, config_text)`` → a CLI session; each gives the logging back at the end."""
    made: list[Session] = []

    def make(env: dict[str, str], config: str | None = None) -> Session:
        loaded = None
        if config is not None:
            (tmp_path / "reconciler.yaml").write_text(config)
            loaded = load_project_config(tmp_path / "reconciler.yaml", env)
        made.append(Session(Settings(env={"SPLX_API_KEY": API_KEY, **env}, config=loaded)))
        return made[-1]

    yield make
    # Each gives back what the one before it set: last made, first closed.
    for session in reversed(made):
        session.close()


def test_the_environment_beats_the_config_which_beats_the_default(
    sessions: Callable[..., Session],
) -> None:
    config = "findingsPath: /from-config/{probeRunId}\n"
    assert sessions({}).findings_path() == DEFAULT_FINDINGS_PATH
    assert sessions({}, config).findings_path() == "/from-config/{probeRunId}"
    from_env = sessions({"RECONCILER_FINDINGS_PATH": "/env/{probeRunId}"}, config)
    assert from_env.findings_path() == "/env/{probeRunId}"
    assert sessions({"RECONCILER_FINDINGS_PATH": ""}, config).findings_path() == (
        "/from-config/{probeRunId}"
    )


def test_the_client_is_built_with_the_chosen_template(sessions: Callable[..., Session]) -> None:
    chosen = sessions({}, "findingsPath: /x/{workspaceId}/{probeRunId}\n")
    with chosen.client(parallelism=2) as client:
        assert client.findings_path == "/x/{workspaceId}/{probeRunId}"


def test_a_bad_template_names_the_config_key_or_the_variable(
    sessions: Callable[..., Session],
) -> None:
    bad = sessions({}, "findingsPath: /x/{testRunId}\n")
    with pytest.raises(
        ApiConfigError, match=r"reconciler.yaml: findingsPath: the findings path has"
    ):
        bad.findings_path()
    with pytest.raises(ApiConfigError, match=r"^RECONCILER_FINDINGS_PATH: the findings path"):
        sessions({"RECONCILER_FINDINGS_PATH": "/nothing"}).findings_path()


def test_the_config_schema_documents_the_key() -> None:
    assert "probeRunId" in config_json_schema()["properties"]["findingsPath"]["description"]
