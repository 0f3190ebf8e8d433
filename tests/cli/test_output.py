"""``schema`` and what every command prints: --quiet, --verbose, --debug, colour."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.e2e.conftest import API_KEY, REPO, SPEC_TWO_RUNS, Cli, Runner

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
EXAMPLES = sorted((REPO / "specs" / "examples").glob("*.yaml"))


def spec_schema(run: Runner) -> dict[str, object]:
    result = run("schema")
    assert result.code == 0
    loaded: dict[str, object] = json.loads(result.out)
    return loaded


def test_schema_is_a_valid_json_schema(run: Runner) -> None:
    schema = spec_schema(run)
    jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_schema_accepts_the_example_specs(run: Runner, path: Path) -> None:
    document = yaml.safe_load(path.read_text())
    jsonschema.validate(document, spec_schema(run))


def test_schema_rejects_what_the_loader_rejects(run: Runner) -> None:
    schema = spec_schema(run)
    validator = jsonschema.Draft202012Validator(schema)
    good = yaml.safe_load(SPEC_TWO_RUNS)
    assert not list(validator.iter_errors(good))
    unknown_field = {**good, "testRuns": {"a": {"targetId": 1, "probeIds": [1], "colour": 1}}}
    wrong_type = {**good, "testRuns": {"a": {"targetId": "x", "probeIds": [1]}}}
    too_big = {**good, "testRuns": {"a": {"targetId": 2**31, "probeIds": [1]}}}
    for bad in (unknown_field, wrong_type, too_big):
        assert list(validator.iter_errors(bad)), bad


def test_config_schema_accepts_the_example_config_and_rejects_bad_ones(run: Runner) -> None:
    result = run("schema", "--config")
    assert result.code == 0, result.all
    schema = json.loads(result.out)
    assert schema["title"] == "reconciler project config (reconciler.yaml)"
    validator = jsonschema.Draft202012Validator(schema)
    validator.check_schema(schema)
    example = yaml.safe_load((REPO / "examples" / "project" / "reconciler.yaml").read_text())
    assert not list(validator.iter_errors(example))
    assert not list(validator.iter_errors({"specs": "specs/", "workspaceId": "${WS}"}))
    assert result.out != run("schema").out  # the spec schema is another one
    bad = (
        {"spec": ["specs/"]},  # unknown key
        {"region": "mars"},
        {"workspaceId": "1234"},
        {"probeSets": {"1bad": [1]}},
        {"maxMatrixRuns": 0},
    )
    for document in bad:
        assert list(validator.iter_errors(document)), document


def test_quiet_prints_only_results_and_errors(cli: Cli, run: Runner) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    applied = run("apply", "--auto-approve", "--quiet")
    assert applied.code == 0, applied.all
    assert applied.out.startswith("Apply complete! 2 triggered")  # no plan, no chatter
    assert applied.err == ""
    validated = run("validate", "-q")
    assert validated.out.startswith("Success!")
    failed = run("state", "show", "nope", "--quiet")
    assert failed.code == 1
    assert "no run with key 'nope'" in failed.err


def test_validate_counts_runs_and_files_in_agreement(cli: Cli, run: Runner) -> None:
    cli.write_spec("one.yaml", "workspaceId: 1\ntestRuns:\n  a: {targetId: 1, probeIds: [1]}\n")
    assert run("validate").out == "Success! 1 test run in 1 spec file is valid.\n"
    cli.write_spec("two.yaml", "workspaceId: 1\ntestRuns:\n  b: {targetId: 1, probeIds: [1]}\n")
    assert run("validate").out == "Success! 2 test runs in 2 spec files are valid.\n"


def test_quiet_still_shows_a_plan_that_needs_approval(cli: Cli) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    refused = cli.proc("apply", "--quiet")
    assert refused.code == 1
    assert "+ chatbot-jailbreak" in refused.out


@pytest.mark.parametrize("flag", ["--verbose", "--debug"])
def test_verbose_and_debug_add_logs_but_never_the_key(cli: Cli, flag: str) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    quiet = cli.proc("apply", "--auto-approve", "--target", "chatbot-jailbreak")
    loud = cli.proc("apply", "--auto-approve", "--replace", "chatbot-jailbreak", flag)
    assert quiet.code == 0 and loud.code == 0, loud.all
    assert "INFO API: http://127.0.0.1" in loud.err
    assert "INFO specs: 1 file(s), 2 run(s)" in loud.err
    assert "locked the state for apply" in loud.err
    assert "chatbot-jailbreak: replace started" in loud.err  # each operation as it starts
    assert " INFO " not in quiet.err and " DEBUG " not in quiet.err
    assert "started" not in quiet.err
    for result in (quiet, loud):
        assert API_KEY not in result.all
    assert API_KEY not in cli.state_path.read_text()


def test_debug_logs_requests(cli: Cli) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    result = cli.proc("apply", "--auto-approve", "--debug")
    assert result.code == 0, result.all
    assert "DEBUG POST /api/workspaces/1234/test-run/trigger -> 200" in result.err
    assert API_KEY not in result.all


@pytest.mark.parametrize(
    "env_or_flag", [{"NO_COLOR": "1"}, {"NO_COLOR": None, "__flag": "--no-color"}]
)
def test_no_color_means_no_escapes(cli: Cli, run: Runner, env_or_flag: dict[str, str]) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    flag = env_or_flag.pop("__flag", None)
    args = ["plan", *([flag] if flag else [])]
    result = run(*args, env=dict(env_or_flag))
    assert result.code == 0
    assert not ANSI.search(result.all)


def test_no_colour_when_output_is_not_a_terminal(cli: Cli) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    result = cli.proc("plan", env={"NO_COLOR": None})
    assert result.code == 0
    assert not ANSI.search(result.all)
