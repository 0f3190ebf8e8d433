"""One command, one room: each command's wiring is imported only when that command is asked
for (reconciler/cli/lazy.py). Each case runs in a fresh interpreter, since a module imported
by an earlier test would hide an import made by the one under test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.cli import COMMANDS
from tests.cli.test_main import command_paths

REPO = Path(__file__).resolve().parents[2]

#: The module holding each command's wiring (the simulator's lives with the simulator).
WIRING = {name: target.partition(":")[0] for name, target in COMMANDS.items()}

#: The modules of reconciler.commands that belong to one command (the others, such as
#: `common`, `reading` and `refreshing`, are shared).
COMMAND_FUNCTIONS = {
    "reconciler.commands.findings",
    "reconciler.commands.planning",
    "reconciler.commands.report",
    "reconciler.commands.results",
    "reconciler.commands.state_cmds",
    "reconciler.commands.waiting",
}


def loaded_after(args: list[str], cwd: Path) -> tuple[int, set[str]]:
    """The exit code of `reconciler ARGS` run by ``main`` in a fresh interpreter, and the
    reconciler modules it had imported by then."""
    report = cwd / "modules.json"
    probe = (
        "import json, sys\n"
        "from reconciler.cli import main\n"
        "code = 0\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit as exit:\n"
        "    code = exit.code\n"
        "modules = sorted(m for m in sys.modules if m.startswith('reconciler'))\n"
        f"open({str(report)!r}, 'w').write(json.dumps([code, modules]))\n"
    )
    subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        check=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"},
        timeout=60,
    )
    code, modules = json.loads(report.read_text())
    return code, set(modules)


@pytest.mark.parametrize("path", command_paths(), ids=" ".join)
def test_help_of_a_command_loads_its_wiring_only(tmp_path: Path, path: tuple[str, ...]) -> None:
    code, modules = loaded_after([*path, "--help"], tmp_path)
    assert code == 0
    assert modules & set(WIRING.values()) == {WIRING[path[0]]}
    # Help runs no command: none of the functions behind the commands is needed.
    assert modules & COMMAND_FUNCTIONS == set()


def test_a_plan_loads_no_other_commands_module(tmp_path: Path) -> None:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "runs.yaml").write_text(
        "workspaceId: 1\ntestRuns:\n  a:\n    targetId: 1\n    probeIds: [1]\n"
    )
    code, modules = loaded_after(["plan", "--state", "state.json"], tmp_path)
    assert code == 0
    assert "reconciler.commands.planning" in modules  # the plan really ran
    assert modules & set(WIRING.values()) == {"reconciler.cli.plan"}
    assert modules & COMMAND_FUNCTIONS == {"reconciler.commands.planning"}


def test_the_root_help_lists_every_command_so_loads_every_wiring(tmp_path: Path) -> None:
    # The one place that pays for them all: each command's summary is in its own module.
    code, modules = loaded_after(["--help"], tmp_path)
    assert code == 0
    assert set(WIRING.values()) <= modules
