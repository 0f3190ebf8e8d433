"""`--help` of every command, pinned against a copy recorded before the CLI was split into a
module per command (tests/data/cli/help/): moving the wiring must not change a word users or
scripts see. A deliberate change to an option or a help text updates the copy in the same
commit (regenerate: `COLUMNS=100 reconciler X --help > tests/data/cli/help/X.txt`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_main import command_paths
from tests.e2e.conftest import Runner

RECORDED = Path(__file__).resolve().parents[1] / "data" / "cli" / "help"
#: The copies were recorded at this width (click caps it at the group's max_content_width).
COLUMNS = "100"


def copy_of(path: tuple[str, ...]) -> Path:
    # "_" joins a subcommand to its group: no command name has one ("force-unlock" has "-").
    return RECORDED / f"{'_'.join(path) or 'reconciler'}.txt"


def test_every_command_has_a_recorded_help_and_every_copy_a_command() -> None:
    expected = {copy_of(path).name for path in [(), *command_paths()]}
    assert expected == {path.name for path in RECORDED.glob("*.txt")}


@pytest.mark.parametrize("path", [(), *command_paths()], ids=lambda p: " ".join(p) or "root")
def test_help_is_the_recorded_copy(run: Runner, path: tuple[str, ...]) -> None:
    result = run(*path, "--help", env={"COLUMNS": COLUMNS})
    assert result.code == 0, result.all
    assert result.err == ""
    assert result.out == copy_of(path).read_text(encoding="utf-8")
