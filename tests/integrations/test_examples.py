"""The repository integrations are valid: CI examples, pre-commit manifest, docs.

Each file is checked for the keys its platform requires, the shell steps that matter are run
with a fake ``reconciler`` (exit-code handling) or against a fake GitLab on loopback (the MR
note), and every ``reconciler ...`` command line in them is checked against the CLI's commands
and options (``cli_surface``). The GitHub workflow checked here is the one written out without
the Action in docs/CI.md (the Action itself: test_action.py); the GitLab jobs are those of the
CI/CD component, templates/reconciler.yml (its inputs: test_component.py).
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from click.testing import CliRunner

from reconciler.cli import cli as reconciler_cli
from reconciler.plan.diff import make_plan
from reconciler.plan.render import GITHUB_COMMENT_LIMIT, MARKDOWN_LIMIT, render_markdown
from tests.plan.factories import attrs, desired, drun, state

ROOT = Path(__file__).resolve().parents[2]
# The workflow without the Action, a fenced block of docs/CI.md; read by `load(GITHUB)`.
GITHUB = ROOT / "docs" / "CI.md#the-workflow-without-the-action"
GITLAB = ROOT / "templates" / "reconciler.yml"
HOOKS = ROOT / ".pre-commit-hooks.yaml"
DOCS = [ROOT / "docs" / name for name in ("CI.md", "PRE_COMMIT.md", "EDITORS.md", "COMPLETION.md")]


def run_in(argv: list[str], cwd: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """``argv`` run in ``cwd`` with exactly ``env``, output captured; the caller checks the code."""
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=30
    )


# --- The CLI surface: which commands and options exist ------------------------------------


class Flag:
    """An option that takes no value."""


FLAG = Flag()
ANY: tuple[str, ...] = ()  # an option whose value is free-form
OptionKind = Flag | tuple[str, ...]  # FLAG, ANY, or the allowed choices


@dataclass(frozen=True)
class CommandSurface:
    """The options of one command and, for a group, its subcommands."""

    options: Mapping[str, OptionKind]
    subcommands: Mapping[str, CommandSurface] = field(default_factory=dict)


def cli_surface() -> CommandSurface:
    """The commands and options of the real ``reconciler`` CLI, plus, while they have not
    landed, the options /work/shared/PRODUCT.md fixes for `apply --wait` (issue 13), which the
    CI templates already use. Once the CLI has `apply --wait`, only the real surface counts."""
    surface = surface_from_click(reconciler_cli)
    apply = surface.subcommands["apply"]
    if "--wait" in apply.options:
        return surface
    pending = {"--wait": FLAG, "--junit": ANY, "--timeout": ANY, "--interval": ANY}
    subcommands = {**surface.subcommands, "apply": CommandSurface({**apply.options, **pending})}
    return CommandSurface(surface.options, subcommands)


def surface_from_click(command: click.Command) -> CommandSurface:
    """The surface of a click command tree, read from its parameters."""
    context = click.Context(command)
    options: dict[str, OptionKind] = {}
    for param in command.get_params(context):  # includes the --help option click adds
        if not isinstance(param, click.Option):
            continue
        kind: OptionKind
        if param.is_flag or param.count:
            kind = FLAG
        elif isinstance(param.type, click.Choice):
            kind = tuple(str(choice) for choice in param.type.choices)
        else:
            kind = ANY
        for name in (*param.opts, *param.secondary_opts):
            options[name] = kind
    subcommands: dict[str, CommandSurface] = {}
    if isinstance(command, click.Group):
        # Asked the way --help asks: the root's commands are imported on demand, so
        # ``command.commands`` lists none of them.
        for name in command.list_commands(context):
            sub = command.get_command(context, name)
            assert sub is not None, name
            subcommands[name] = surface_from_click(sub)
    return CommandSurface(options, subcommands)


# --- Finding and checking `reconciler ...` command lines ----------------------------------

# `reconciler` as a word followed by blanks; not a path (`reconciler/cli.py`), a package
# spec (`reconciler[postgres]`, `reconciler @ git+https://...`), a hook id
# (`reconciler-validate`) or an env var name.
INVOCATION = re.compile(r"(?<![\w./@$-])reconciler(?=[ \t])(?![ \t]*@)")


def invocations(shell_text: str) -> Iterator[list[str]]:
    """The argument lists of every ``reconciler`` invocation in a piece of shell text."""
    joined = shell_text.replace("\\\n", " ")  # backslash line continuations
    for line in joined.splitlines():
        for match in INVOCATION.finditer(line):
            yield _arguments(line[match.end() :])


def _arguments(rest_of_line: str) -> list[str]:
    """Shell words up to the first operator (``|``, ``>``, ``;``, ``)``...) or comment."""
    lexer = shlex.shlex(rest_of_line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    words: list[str] = []
    try:
        for word in lexer:
            if word and all(char in lexer.punctuation_chars for char in word):
                break
            words.append(word)
    except ValueError:  # a quote opened before `reconciler` closes after it: stop there
        pass
    return words


def problems(arguments: list[str], surface: CommandSurface) -> list[str]:
    """What in one invocation is not a command, option or choice of ``surface``."""
    found: list[str] = []
    command, path, positional_seen = surface, "reconciler", False
    words = iter(arguments)
    for word in words:
        if word.startswith("-") and word != "-":
            name, has_inline, inline = word.partition("=")
            kind = command.options.get(name)
            if kind is None:
                found.append(f"`{path}` has no option {name}")
            elif isinstance(kind, Flag):
                if has_inline:
                    found.append(f"`{path} {name}` takes no value")
            else:
                value = inline if has_inline else next(words, None)
                if value is None:
                    found.append(f"`{path} {name}` needs a value")
                elif kind and value not in kind and not value.startswith("$"):
                    found.append(f"`{path} {name}` takes one of {kind}, not {value!r}")
        elif command.subcommands and not positional_seen:
            if word not in command.subcommands:
                found.append(f"`{path}` has no command {word!r}")
                break
            command, path = command.subcommands[word], f"{path} {word}"
        else:
            positional_seen = True
    return found


def markdown_code(text: str) -> str:
    """The fenced blocks and inline code spans of a markdown page, one per line."""
    fences = re.compile(r"^```([^\n]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
    # YAML blocks are configuration, not shell; the workflows among them are checked as such.
    blocks = [body for info, body in fences.findall(text) if info.strip() != "yaml"]
    spans = re.findall(r"`([^`\n]+(?:\n[^`\n]+)*)`", fences.sub("", text))
    return "\n".join([*blocks, *(" ".join(span.split()) for span in spans)])


# --- Reading the files ---------------------------------------------------------------------


def load(path: Path) -> Any:
    if path == GITHUB:
        return yaml.safe_load(github_long_form())
    if path == GITLAB:
        return component_jobs()
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def github_long_form() -> str:
    """The yaml block under docs/CI.md's heading "The workflow without the Action"."""
    text = (ROOT / "docs" / "CI.md").read_text(encoding="utf-8")
    section = text.split("\n## The workflow without the Action\n", 1)[1]
    match = re.search(r"^```yaml\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    assert match, "docs/CI.md lost the workflow written out without the Action"
    return match.group(1)


def component_jobs() -> dict[str, Any]:
    """The component's jobs (its second YAML document), inputs replaced by their defaults,
    each job's `extends:` of the hidden template merged in as GitLab does."""
    spec, _ = yaml.safe_load_all(GITLAB.read_text(encoding="utf-8"))
    defaults = {
        name: str(value.get("default", "")).lower()
        if isinstance(value.get("default"), bool)
        else str(value.get("default", ""))
        for name, value in spec["spec"]["inputs"].items()
    }
    text = GITLAB.read_text(encoding="utf-8").split("\n---\n", 1)[1]
    text = re.sub(r"\$\[\[ inputs\.([\w-]+) \]\]", lambda m: defaults[m.group(1)], text)
    resolved: dict[str, Any] = yaml.safe_load(text)
    for job in resolved.values():
        base = resolved.get(job.pop("extends", ""), {})
        for key, value in base.items():
            if key == "variables":
                job["variables"] = {**value, **job.get("variables", {})}
            else:
                job.setdefault(key, value)
    return resolved


def github_triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    """The workflow's `on:`. PyYAML follows YAML 1.1, where a bare `on` key loads as True."""
    keys = [key for key in ("on", True) if key in workflow]
    assert len(keys) == 1, f"expected one `on:` key, found {keys}"
    triggers: dict[str, Any] = workflow[keys[0]]
    return triggers


def github_job_running(workflow: dict[str, Any], command: str) -> dict[str, Any]:
    jobs: list[dict[str, Any]] = [
        job
        for job in workflow["jobs"].values()
        if any(command in step.get("run", "") for step in job["steps"])
    ]
    assert len(jobs) == 1, f"expected one job running {command!r}"
    return jobs[0]


GITLAB_KEYWORDS = {
    "default",
    "include",
    "stages",
    "variables",
    "workflow",
    "image",
    "services",
    "cache",
    "before_script",
    "after_script",
}


def gitlab_jobs(pipeline: dict[str, Any]) -> dict[str, dict[str, Any]]:
    # Keys starting with "." are hidden templates, not jobs.
    return {
        name: job
        for name, job in pipeline.items()
        if name not in GITLAB_KEYWORDS and not name.startswith(".")
    }


def shell_texts(path: Path) -> list[str]:
    """The shell code of one file: what its platform runs, or a doc page's code."""
    if path.suffix == ".md":
        return [markdown_code(path.read_text(encoding="utf-8"))]
    document = load(path)
    if path == HOOKS:
        return [" ".join([hook["entry"], *hook.get("args", [])]) for hook in document]
    if path == GITHUB:
        jobs = document["jobs"].values()
        return [step["run"] for job in jobs for step in job["steps"] if "run" in step]
    sections = [document.get("default", {}), *document.values()]
    keys = ("before_script", "script", "after_script")
    return [line for section in sections for key in keys for line in section.get(key, [])]


# --- pre-commit ----------------------------------------------------------------------------


def test_pre_commit_manifest_has_the_keys_pre_commit_requires() -> None:
    hooks = load(HOOKS)
    assert isinstance(hooks, list)
    assert [hook["id"] for hook in hooks] == ["reconciler-validate"]
    hook = hooks[0]
    for key in ("id", "name", "entry", "language"):
        assert isinstance(hook[key], str)
        assert hook[key]
    assert hook["language"] == "python"
    assert hook["entry"].split()[:2] == ["reconciler", "validate"]
    assert hook["pass_filenames"] is True


@pytest.mark.parametrize(
    ("path", "selected"),
    [
        ("specs/nightly.yaml", True),
        ("specs/team/a.yml", True),
        ("specs/notes.md", False),
        ("other/specs/a.yaml", False),
        ("specs/a.yaml.bak", False),
    ],
)
def test_pre_commit_files_pattern(path: str, selected: bool) -> None:
    # pre-commit matches `files` with re.search on the repository-relative path.
    pattern = re.compile(load(HOOKS)[0]["files"])
    assert bool(pattern.search(path)) is selected


def test_pre_commit_doc_uses_the_hook_id_of_the_manifest() -> None:
    text = (ROOT / "docs" / "PRE_COMMIT.md").read_text(encoding="utf-8")
    config = yaml.safe_load(re.search(r"```yaml\n(.*?)```", text, re.DOTALL)[1])  # type: ignore[index]
    hook_ids = [hook["id"] for repo in config["repos"] for hook in repo["hooks"]]
    assert hook_ids == [load(HOOKS)[0]["id"]]


# --- GitHub Actions ------------------------------------------------------------------------


def test_github_workflow_triggers_on_pull_requests_and_pushes_to_main() -> None:
    triggers = github_triggers(load(GITHUB))
    assert "pull_request" in triggers
    assert triggers["push"]["branches"] == ["main"]


def test_github_jobs_have_runs_on_and_steps() -> None:
    jobs = load(GITHUB)["jobs"]
    assert jobs
    for name, job in jobs.items():
        assert isinstance(job["runs-on"], str), name
        assert job["steps"], name
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), f"{name}: {step}"


def test_github_plan_job_comments_and_keeps_the_plan() -> None:
    job = github_job_running(load(GITHUB), "reconciler plan")
    assert job["if"] == "github.event_name == 'pull_request'"
    assert job["permissions"]["pull-requests"] == "write"
    assert job["env"]["SPLX_API_KEY"] == "${{ secrets.SPLX_API_KEY }}"
    plans = [
        args for text in shell_texts(GITHUB) for args in invocations(text) if args[0] == "plan"
    ]
    assert any("--detailed-exitcode" in args and "--out" in args for args in plans)
    uses = {step.get("uses", "").split("@")[0]: step for step in job["steps"]}
    assert "actions/github-script" in uses
    assert "plan.md" in uses["actions/github-script"]["with"]["script"]
    artifact = uses["actions/upload-artifact"]["with"]["path"].split()
    assert {"plan.md", "plan.json"} <= set(artifact)


def test_github_apply_job_never_overlaps_and_commits_state_back() -> None:
    job = github_job_running(load(GITHUB), "reconciler apply")
    assert job["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert job["concurrency"]["group"] == "reconciler-apply-${{ github.ref }}"
    assert job["concurrency"]["cancel-in-progress"] is False
    assert job["permissions"]["contents"] == "write"
    assert job["env"]["SPLX_API_KEY"] == "${{ secrets.SPLX_API_KEY }}"
    runs = [step["run"] for step in job["steps"] if "run" in step]
    assert any(args[:2] == ["apply", "--auto-approve"] for run in runs for args in invocations(run))
    commit = next(step for step in job["steps"] if "git push" in step.get("run", ""))
    assert commit["if"] == "always()", "state must be committed after a failed apply too"
    assert "git add state/" in commit["run"]


# --- GitLab CI -----------------------------------------------------------------------------


def test_gitlab_jobs_have_a_script_and_a_stage() -> None:
    jobs = gitlab_jobs(load(GITLAB))
    assert set(jobs) == {"reconciler-plan", "reconciler-apply"}
    for name, job in jobs.items():
        assert job["script"], name
        # A stray ": " in an unquoted line turns it into a mapping, which GitLab rejects.
        assert all(isinstance(line, str) for line in job["script"]), name
        assert job["stage"] in {"test", "deploy"}, name
        assert job["before_script"], f"{name} installs splx-reconciler"


def test_gitlab_plan_runs_on_merge_requests_and_keeps_the_plan() -> None:
    job = load(GITLAB)["reconciler-plan"]
    assert job["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
    assert {"plan.md", "plan.json"} <= set(job["artifacts"]["paths"])
    plans = [args for line in job["script"] for args in invocations(line)]
    assert any("--detailed-exitcode" in args for args in plans)


def test_gitlab_apply_is_serialised_and_runs_on_the_default_branch() -> None:
    job = load(GITLAB)["reconciler-apply"]
    assert job["resource_group"] == "reconciler-apply"
    assert job["interruptible"] is False
    assert "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH" in job["rules"][0]["if"]
    applies = [args for line in job["script"] for args in invocations(line)]
    assert all(args[0] == "apply" and "--auto-approve" in args for args in applies)
    waiting = [args for args in applies if "--wait" in args]
    assert waiting and all(
        args[args.index("--junit") + 1] == "reconciler-junit.xml" for args in waiting
    )
    assert job["artifacts"]["reports"]["junit"] == "reconciler-junit.xml"
    assert job["artifacts"]["when"] == "always", "a failed gate's report is the one to read"
    assert job["script"][-1] == 'exit "$status"', "the job fails when apply failed"


# --- The plan steps' exit-code handling, run for real with a fake reconciler ---------------

FAKE_RECONCILER = """#!/bin/sh
echo "# fake plan $*"
case " $* " in *" --detailed-exitcode "*) exit "$FAKE_PLAN_STATUS";; esac
"""


def plan_steps() -> list[tuple[str, str]]:
    github = next(
        step["run"]
        for job in load(GITHUB)["jobs"].values()
        for step in job["steps"]
        if step.get("id") == "plan"
    )
    # GitLab runs a job's lines in one shell; variables carry over between them.
    gitlab = "\n".join(load(GITLAB)["reconciler-plan"]["script"])
    return [("github", github), ("gitlab", gitlab)]


@pytest.mark.parametrize(("platform", "script"), plan_steps())
@pytest.mark.parametrize(
    ("plan_status", "step_status", "changes"), [(0, 0, "false"), (2, 0, "true"), (1, 1, None)]
)
def test_plan_step_treats_exit_2_as_success_with_changes(
    tmp_path: Path,
    platform: str,
    script: str,
    plan_status: int,
    step_status: int,
    changes: str | None,
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "reconciler"
    fake.write_text(FAKE_RECONCILER, encoding="utf-8")
    fake.chmod(0o755)
    outputs = tmp_path / "github_output"
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_PLAN_STATUS": str(plan_status),
        "GITHUB_OUTPUT": str(outputs),
    }
    # Both platforms run steps with `bash -eo pipefail` (GitLab adds more, not less, strictness).
    done = run_in(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], tmp_path, env)
    assert done.returncode == step_status, done.stderr
    plan_md = (tmp_path / "plan.md").read_text()
    if step_status == 0:
        assert plan_md.startswith("# fake plan plan --format markdown")
        assert (tmp_path / "plan.json").exists()
    elif platform == "gitlab":  # the MR note is posted from plan.md, failure or not
        assert plan_md.startswith("**The plan failed.**")
    if platform == "github" and changes is not None:
        assert outputs.read_text() == f"changes={changes}\n"


# --- The GitHub PR comment, run under node with a fake `github` client ---------------------

# actions/github-script runs its `script` as the body of an async function of these names.
GITHUB_SCRIPT_HARNESS = """
const fs = require('fs');
const calls = [];
const comments = JSON.parse(process.env.FAKE_COMMENTS);
const github = {
  paginate: async (method, params) => { calls.push(['list', params]); return comments; },
  rest: { issues: {
    listComments: () => { throw new Error('listComments must go through paginate'); },
    updateComment: async (params) => { calls.push(['update', params]); },
    createComment: async (params) => { calls.push(['create', params]); },
  } },
};
const context = {
  repo: { owner: 'acme', repo: 'specs' }, issue: { number: 5 }, runId: 99,
  serverUrl: 'https://github.com', payload: { pull_request: { head: { sha: 'abcdef0123' } } },
};
const AsyncFunction = (async () => {}).constructor;
const script = fs.readFileSync(process.argv[2], 'utf8');
new AsyncFunction('github', 'context', 'require', script)(github, context, require)
  .then(() => console.log(JSON.stringify(calls)));
"""


def run_comment_script(
    tmp_path: Path, outcome: str, comments: list[dict[str, Any]]
) -> list[list[Any]]:
    job = github_job_running(load(GITHUB), "reconciler plan")
    step = next(step for step in job["steps"] if "github-script" in step.get("uses", ""))
    assert step["env"]["PLAN_OUTCOME"] == "${{ steps.plan.outcome }}"
    assert "!cancelled()" in step["if"], "the comment must also say when the plan failed"
    (tmp_path / "script.js").write_text(step["with"]["script"], encoding="utf-8")
    (tmp_path / "harness.js").write_text(GITHUB_SCRIPT_HARNESS, encoding="utf-8")
    env = {
        "PATH": os.environ["PATH"],
        "PLAN_OUTCOME": outcome,
        "FAKE_COMMENTS": json.dumps(comments),
    }
    done = run_in(["node", "harness.js", "script.js"], tmp_path, env)
    assert done.returncode == 0, done.stderr
    calls: list[list[Any]] = json.loads(done.stdout)
    return calls


needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


@needs_node
def test_github_comment_is_created_then_updated_in_place(tmp_path: Path) -> None:
    (tmp_path / "plan.md").write_text("## 1 to trigger", encoding="utf-8")
    marker = "<!-- reconciler-plan -->"
    human = {"id": 1, "user": {"type": "User"}, "body": f"quoting {marker}"}
    created = run_comment_script(tmp_path, "success", [human])
    assert created[1:] == [
        [
            "create",
            {
                "owner": "acme",
                "repo": "specs",
                "issue_number": 5,
                "body": f"{marker}\nPlan for abcdef0:\n\n## 1 to trigger",
            },
        ]
    ]
    bot = {"id": 7, "user": {"type": "Bot"}, "body": f"{marker}\nold plan"}
    updated = run_comment_script(tmp_path, "success", [human, bot])
    assert [call[0] for call in updated] == ["list", "update"]
    assert updated[1][1]["comment_id"] == 7


@needs_node
def test_github_comment_says_so_when_the_plan_failed(tmp_path: Path) -> None:
    (tmp_path / "plan.md").write_text("a partial plan from a failed run", encoding="utf-8")
    [_, (action, params)] = run_comment_script(tmp_path, "failure", [])
    assert action == "create"
    assert "The plan failed" in params["body"]
    assert "https://github.com/acme/specs/actions/runs/99" in params["body"]
    assert "partial plan" not in params["body"]


def utf16_units(text: str) -> int:
    """Length as JavaScript and GitHub count it; fails on a lone surrogate (a split emoji)."""
    return len(text.encode("utf-16-le")) // 2


@needs_node
# The odd "x" puts the cut inside an emoji's surrogate pair.
@pytest.mark.parametrize("text", ["x" * 100_000, "x" + "🟢" * 40_000], ids=["ascii", "emoji"])
def test_github_comment_truncates_long_plans(tmp_path: Path, text: str) -> None:
    (tmp_path / "plan.md").write_text(text, encoding="utf-8")
    [_, (_, params)] = run_comment_script(tmp_path, "success", [])
    assert utf16_units(params["body"]) <= GITHUB_COMMENT_LIMIT
    assert "reconciler-plan` artifact" in params["body"]


def test_github_comment_cut_is_above_reconcilers_budget() -> None:
    job = github_job_running(load(GITHUB), "reconciler plan")
    step = next(step for step in job["steps"] if "github-script" in step.get("uses", ""))
    match = re.search(r"const limit = (\d+);", step["with"]["script"])
    assert match is not None
    assert MARKDOWN_LIMIT < int(match.group(1)) < GITHUB_COMMENT_LIMIT - 200


@needs_node
def test_github_comment_posts_reconcilers_cut_markdown_whole(tmp_path: Path) -> None:
    # 3,000 runs whose names carry emoji: more UTF-16 units than characters.
    runs = [drun(f"run-{i:05d}", attrs(name=f"🔥 sweep {i} 🚀")) for i in range(3000)]
    plan = render_markdown(make_plan(desired(*runs), state()))
    assert "Output cut to fit a comment" in plan
    (tmp_path / "plan.md").write_text(plan, encoding="utf-8")
    [_, (_, params)] = run_comment_script(tmp_path, "success", [])
    assert params["body"].endswith("\n\n" + plan)  # reconciler's own note included
    assert "Truncated" not in params["body"]
    assert utf16_units(params["body"]) <= GITHUB_COMMENT_LIMIT


# --- The GitLab MR note, posted to a fake GitLab on loopback -------------------------------


class FakeGitLabNotes(BaseHTTPRequestHandler):
    """Just enough of GitLab's merge-request notes API for the plan job's upsert."""

    notes: list[dict[str, Any]]
    requests: list[tuple[str, str, str | None]]
    prefix = "/api/v4/projects/7/merge_requests/3/notes"

    def _answer(self, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _record(self) -> dict[str, Any] | None:
        self.requests.append((self.command, self.path, self.headers.get("PRIVATE-TOKEN")))
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length)) if length else None

    def do_GET(self) -> None:
        self._record()
        self._answer(list(reversed(self.notes)))  # asked for newest first

    def do_POST(self) -> None:
        body = self._record()
        assert body is not None
        self.notes.append({"id": 100 + len(self.notes), "body": body["body"]})
        self._answer(self.notes[-1])

    def do_PUT(self) -> None:
        body = self._record()
        assert body is not None
        note_id = int(self.path.rsplit("/", 1)[1])
        note = next(note for note in self.notes if note["id"] == note_id)
        note["body"] = body["body"]
        self._answer(note)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


@pytest.fixture
def fake_gitlab() -> Iterator[tuple[str, type[FakeGitLabNotes]]]:
    handler = type("Handler", (FakeGitLabNotes,), {"notes": [], "requests": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/api/v4", handler
    finally:
        server.shutdown()
        server.server_close()


def test_gitlab_plan_note_is_created_then_updated(
    tmp_path: Path, fake_gitlab: tuple[str, type[FakeGitLabNotes]]
) -> None:
    api_url, handler = fake_gitlab
    handler.notes.append({"id": 1, "body": "an unrelated review comment"})
    note_step = next(
        line for line in load(GITLAB)["reconciler-plan"]["script"] if "python3 -" in line
    )
    env = {key: value for key, value in os.environ.items() if not key.lower().endswith("_proxy")}
    env.update(
        CI_API_V4_URL=api_url,
        CI_PROJECT_ID="7",
        CI_MERGE_REQUEST_IID="3",
        RECONCILER_GITLAB_TOKEN="project-token",
        NO_PROXY="*",
    )
    for commit, plan in (("aaaaaaa", "first plan"), ("bbbbbbb", "second plan")):
        (tmp_path / "plan.md").write_text(plan, encoding="utf-8")
        env["CI_COMMIT_SHORT_SHA"] = commit
        done = run_in(["bash", "-eo", "pipefail", "-c", note_step], tmp_path, env)
        assert done.returncode == 0, done.stderr

    assert [note["body"] for note in handler.notes] == [
        "an unrelated review comment",
        "<!-- reconciler-plan -->\nPlan for bbbbbbb:\n\nsecond plan",
    ]
    methods = [method for method, _, _ in handler.requests]
    assert methods == ["GET", "POST", "GET", "PUT"]
    assert all(path.startswith(FakeGitLabNotes.prefix) for _, path, _ in handler.requests)
    assert {token for _, _, token in handler.requests} == {"project-token"}


def test_gitlab_plan_note_is_skipped_without_a_token(tmp_path: Path) -> None:
    note_step = next(
        line for line in load(GITLAB)["reconciler-plan"]["script"] if "python3 -" in line
    )
    (tmp_path / "plan.md").write_text("plan", encoding="utf-8")
    env = {"PATH": os.environ["PATH"]}
    done = run_in(["bash", "-c", note_step], tmp_path, env)
    assert done.returncode == 0, done.stderr
    assert "artifacts" in done.stdout


# --- Every `reconciler ...` line uses only real commands and options -----------------------


@pytest.mark.parametrize("path", [GITHUB, GITLAB, HOOKS, *DOCS], ids=lambda path: path.name)
def test_reconciler_command_lines_use_only_known_commands_and_options(path: Path) -> None:
    surface = cli_surface()
    found = [args for text in shell_texts(path) for args in invocations(text)]
    assert found, f"{path.name}: no reconciler command line found; is the scan broken?"
    mistakes = [
        f"reconciler {shlex.join(args)}: {p}" for args in found for p in problems(args, surface)
    ]
    assert mistakes == []


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("reconciler plan specs/ --format=json --target a --target b", []),
        ("reconciler state rm chatbot --state s.json # forget it", []),
        ("reconciler apply --auto-approve --parallelism 4 > log || exit 1", []),
        ('x=$(reconciler plan --format "$FMT")', []),
        ("reconciler plan --bogus", ["`reconciler plan` has no option --bogus"]),
        ("reconciler frobnicate", ["`reconciler` has no command 'frobnicate'"]),
        ("reconciler state frob", ["`reconciler state` has no command 'frob'"]),
        (
            "reconciler plan --format yaml",
            ["`reconciler plan --format` takes one of ('text', 'json', 'markdown'), not 'yaml'"],
        ),
        (
            "reconciler apply --auto-approve=yes",
            ["`reconciler apply --auto-approve` takes no value"],
        ),
        ("reconciler plan --out", ["`reconciler plan --out` needs a value"]),
        (
            "reconciler validate --detailed-exitcode",
            ["`reconciler validate` has no option --detailed-exitcode"],
        ),
    ],
)
def test_command_line_checker(line: str, expected: list[str]) -> None:
    [arguments] = list(invocations(line))
    assert problems(arguments, cli_surface()) == expected


@pytest.mark.parametrize(
    "text",
    [
        "pip install reconciler",
        'pip install "reconciler @ git+https://example.com/reconciler@v1"',
        'pip install "reconciler[postgres]"',
        "see reconciler/cli.py",
        "id: reconciler-validate",
        "_RECONCILER_COMPLETE=bash_source reconciler > ~/.reconciler-complete.bash",
    ],
)
def test_command_line_finder_ignores_what_is_not_a_subcommand_call(text: str) -> None:
    assert all(args == [] for args in invocations(text))


def test_markdown_code_takes_fences_and_inline_spans_but_not_prose() -> None:
    page = (
        "reconciler makes runs declarative.\n"
        "```sh\nreconciler plan\n```\n"
        "Then run `reconciler\napply`.\n"
    )
    assert [args for args in invocations(markdown_code(page))] == [["plan"], ["apply"]]


def test_surface_from_click_reads_commands_options_and_choices() -> None:
    @click.group()
    def root() -> None: ...

    @root.group()
    def state() -> None: ...

    @state.command("rm")
    @click.option("--state", "state_file")
    def state_rm(state_file: str) -> None: ...

    @root.command()
    @click.option("--format", type=click.Choice(["text", "json"]))
    @click.option("--color/--no-color")
    @click.option("-v", "--verbose", count=True)
    def plan(format: str, color: bool, verbose: int) -> None: ...

    surface = surface_from_click(root)
    assert set(surface.subcommands) == {"state", "plan"}
    assert surface.subcommands["plan"].options == {
        "--format": ("text", "json"),
        "--color": FLAG,
        "--no-color": FLAG,
        "-v": FLAG,
        "--verbose": FLAG,
        "--help": FLAG,
    }
    assert surface.subcommands["state"].subcommands["rm"].options == {
        "--state": ANY,
        "--help": FLAG,
    }


# --- Docs that can be checked against the real thing ---------------------------------------


def test_completion_doc_commands_produce_click_completion_scripts() -> None:
    text = (ROOT / "docs" / "COMPLETION.md").read_text(encoding="utf-8")
    shells = re.findall(r"_RECONCILER_COMPLETE=(\w+)_source reconciler\b", text)
    assert sorted(shells) == ["bash", "fish", "zsh"]
    for shell in shells:
        result = CliRunner().invoke(
            reconciler_cli,
            [],
            prog_name="reconciler",
            env={"_RECONCILER_COMPLETE": f"{shell}_source"},
        )
        assert result.exit_code == 0, result.output
        # The script calls reconciler back with the matching `_complete` instruction.
        assert f"_RECONCILER_COMPLETE={shell}_complete" in result.output


def test_editors_doc_points_modeline_and_vscode_at_the_generated_schema() -> None:
    text = (ROOT / "docs" / "EDITORS.md").read_text(encoding="utf-8")
    generated = re.search(r"reconciler schema > (\S+)", text)[1]  # type: ignore[index]
    modeline = re.search(r"# yaml-language-server: \$schema=(\S+)", text)[1]  # type: ignore[index]
    # The modeline's path is relative to the spec file, here one in specs/.
    assert posixpath.normpath(posixpath.join("specs", modeline)) == generated
    settings = json.loads(re.search(r"```json\n(.*?)```", text, re.DOTALL)[1])  # type: ignore[index]
    # The config's schema: its modeline is in reconciler.yaml, at the repository root.
    config_schema = re.search(r"reconciler schema --config > (\S+)", text)[1]  # type: ignore[index]
    modelines = re.findall(r"# yaml-language-server: \$schema=(\S+)", text)
    assert modelines == [modeline, config_schema]
    assert settings["yaml.schemas"] == {
        generated: ["specs/**/*.yaml", "specs/**/*.yml"],
        config_schema: ["reconciler.yaml"],
    }
