"""The command tree itself: version, help of every command, and exit codes of usage errors."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from reconciler import __version__
from reconciler.cli import cli as root
from tests.e2e.conftest import Cli, Runner

REPO = Path(__file__).resolve().parents[2]


def command_paths(group: click.Group = root, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and subcommand, asked of click the way --help asks: the root's commands
    are imported on demand (``reconciler/cli/lazy.py``), so ``group.commands`` lists none."""
    ctx = click.Context(group)
    paths: list[tuple[str, ...]] = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        paths.append((*prefix, name))
        if isinstance(command, click.Group):
            paths.extend(command_paths(command, (*prefix, name)))
    return paths


def test_version(run: Runner) -> None:
    result = run("--version")
    assert result.code == 0
    assert result.out.strip() == f"reconciler, version {__version__}"


def test_every_documented_command_exists() -> None:
    names = {" ".join(path) for path in command_paths()}
    assert {
        "validate",
        "plan",
        "apply",
        "destroy",
        "state",
        "state list",
        "state show",
        "state rm",
        "import",
        "force-unlock",
        "schema",
    } <= names


@pytest.mark.parametrize("path", [(), *command_paths()], ids=lambda p: " ".join(p) or "root")
def test_help_of_every_command_exits_0(run: Runner, path: tuple[str, ...]) -> None:
    result = run(*path, "--help")
    assert result.code == 0, result.all
    assert result.out.startswith(f"Usage: reconciler {' '.join(path)}".rstrip())
    assert result.err == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plan", "--no-such-flag"], "No such option '--no-such-flag'"),
        (["plan", "--format", "yaml"], "'yaml' is not one of"),
        (["frobnicate"], "No such command 'frobnicate'"),
        (["state", "show"], "Missing argument 'KEY'"),
        (["import", "k", "not-a-number"], "'not-a-number' is not a valid integer"),
        (["apply", "--parallelism", "0"], "0 is not in the range"),
        (["state", "rm", "k", "--lock-timeout", "soon"], "invalid duration 'soon'"),
    ],
)
def test_usage_errors_exit_1_never_2(run: Runner, args: list[str], message: str) -> None:
    # 2 means "the plan has changes" to CI scripts; a typo must never look like that.
    result = run(*args)
    assert result.code == 1, result.all
    assert message in result.err
    assert result.out == ""


@pytest.mark.parametrize(
    "extra", [["specs"], ["--target", "a"], ["--retrigger-unknown"], ["--force"], ["--allow-empty"]]
)
def test_apply_with_a_saved_plan_refuses_options_that_shape_a_plan(
    run: Runner, extra: list[str]
) -> None:
    result = run("apply", "--plan", "p.plan", *extra)
    assert result.code == 1
    assert "--plan FILE applies the saved plan as it was reviewed" in result.err


def test_commands_that_take_no_lock_offer_no_lock_timeout(run: Runner) -> None:
    # plan is the exception: it accepts and ignores it (test_spec_language.py).
    for args in (["state", "list"], ["state", "show", "k"], ["force-unlock", "x"]):
        result = run(*args, "--lock-timeout", "5s")
        assert result.code == 1
        assert "No such option '--lock-timeout'" in result.err


def test_an_in_process_command_leaves_the_callers_logging_as_it_was(
    run: Runner, caplog: pytest.LogCaptureFixture
) -> None:
    # The session takes the reconciler logger over for its command (handler, level, no
    # propagation); a caller of main(argv) that lives on must get it back as it was, or its
    # own handlers (here caplog) never see a reconciler record again.
    logger = logging.getLogger("reconciler")
    before = (logger.level, logger.propagate, list(logger.handlers), list(logger.filters))
    result = run("state", "list", "--verbose")
    assert result.code == 0, result.all
    assert " INFO state: " in result.err  # the command's own logging was in place
    assert (logger.level, logger.propagate, list(logger.handlers), list(logger.filters)) == before
    with caplog.at_level(logging.INFO):
        logging.getLogger("reconciler.api.client").info("after the command")
    assert caplog.messages == ["after the command"]


def test_a_session_gives_the_logging_back_when_it_closes(caplog: pytest.LogCaptureFixture) -> None:
    # For code that builds a session itself (the test harnesses, an embedding program).
    from reconciler.commands.common import Session, Settings

    logger = logging.getLogger("reconciler")
    before = (logger.level, logger.propagate, list(logger.handlers))
    with Session(Settings(env={}, verbose=True)):
        assert (logger.level, logger.propagate, len(logger.handlers)) == (logging.INFO, False, 1)
    assert (logger.level, logger.propagate, list(logger.handlers)) == before
    with caplog.at_level(logging.INFO):
        logging.getLogger("reconciler.state").info("after the session")
    assert caplog.messages == ["after the session"]


def test_real_process_version_help_and_usage_error(cli: Cli) -> None:
    assert cli.proc("--version").out.strip() == f"reconciler, version {__version__}"
    helped = cli.proc("--help")
    assert helped.code == 0
    for command in ("plan", "apply", "destroy", "import", "state", "force-unlock", "schema"):
        assert command in helped.out
    wrong = cli.proc("plan", "--nope")
    assert wrong.code == 1
    assert "No such option" in wrong.err
    assert "Traceback" not in wrong.err


def test_help_imports_no_heavy_library() -> None:
    # Start-up speed is measured in bench/run_all.py; this pins the mechanism behind it:
    # `reconciler --help` must not load pydantic, httpx, aiohttp, deepdiff or yaml.
    probe = (
        "import sys\n"
        "from reconciler.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = {'pydantic', 'httpx', 'aiohttp', 'deepdiff', 'yaml'}\n"
        "print(sorted(heavy & set(sys.modules)), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert done.stderr.strip() == "[]"


def _plan_probe(tmp_path: Path, probe: str) -> subprocess.CompletedProcess[str]:
    """Run ``probe`` in a fresh interpreter, in a repository with one spec file of one run."""
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "runs.yaml").write_text(
        "workspaceId: 1\ntestRuns:\n  a:\n    targetId: 1\n    probeIds: [1]\n"
    )
    return subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"},
    )


def test_a_plan_loads_no_http_stack_and_no_differ_it_does_not_need(tmp_path: Path) -> None:
    # bench/run_all.py --only terraform measures plan speed; this pins part of it: a plan
    # makes no request (no httpx, no aiohttp), explains no replace here (no deepdiff),
    # executes nothing (no executor), serves nothing (no simulator) and, in a repository
    # without a reconciler.yaml, builds no config model.
    probe = (
        "import sys\n"
        "from reconciler.cli import main\n"
        "try:\n"
        "    main(['plan', '--state', 'state.json'])\n"
        "except SystemExit as exit:\n"
        "    assert exit.code == 0, exit.code\n"
        "heavy = {'httpx', 'aiohttp', 'deepdiff', 'reconciler.apply', 'reconciler.api.client',\n"
        "         'reconciler.simulator.cli', 'reconciler.config'}\n"
        "print(sorted(heavy & set(sys.modules)), file=sys.stderr)\n"
    )
    done = _plan_probe(tmp_path, probe)
    assert "Plan: 1 to trigger" in done.stdout
    assert done.stderr.strip().splitlines()[-1] == "[]"


def test_a_plan_imports_no_module_only_other_commands_need(tmp_path: Path) -> None:
    # A no-change plan is mostly imports (docs/PERFORMANCE.md, "The plan at its floor"); this
    # pins modules it once imported for nothing: logging (a plan logs nothing at the default
    # level, reconciler/logs.py), shutil (with bz2 and lzma) copies a backup only where a
    # hard link fails, signal serves apply's executor, string reads the names of matrix runs,
    # spec.messages words the errors of invalid specs, a finding's content and the diff of
    # findings serve the commands that show results, and pydantic's serializer decorators
    # serve no model (docs/ARCHITECTURE.md).
    # Run as the console script runs (``main()`` without arguments: pydantic's plugin lookup,
    # which would import shutil itself, is skipped there; ``main(argv)`` imports logging to
    # give the caller its logger back).
    probe = (
        "import atexit, sys\n"
        "from reconciler.entry import main\n"
        "sys.argv = ['reconciler', 'plan', '--state', 'state.json', '--refresh=false']\n"
        "unneeded = {'logging', 'shutil', 'signal', 'string', 'reconciler.spec.messages',\n"
        "            'reconciler.results.findings_read', 'reconciler.results.baseline',\n"
        "            'pydantic.functional_serializers'}\n"
        # main() ends the process (reconciler.collector.end_process), running atexit first.
        "atexit.register(lambda: print(sorted(unneeded & set(sys.modules)), file=sys.stderr))\n"
        "main()\n"
    )
    done = _plan_probe(tmp_path, probe)
    assert "Plan: 1 to trigger" in done.stdout
    assert done.stderr.strip().splitlines()[-1] == "[]"
