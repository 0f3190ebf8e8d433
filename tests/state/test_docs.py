"""The state docs agree with what ships: the state directory's .gitignore, the flags."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reconciler.commands.common import parse_duration

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_state_gitignore_is_the_one_state_md_shows() -> None:
    text = (ROOT / "docs" / "STATE.md").read_text()
    block = re.search(r"```gitignore\n(.*?)```", text, re.S)
    assert block is not None
    shown = set(block.group(1).split())
    shipped = set((ROOT / "state" / ".gitignore").read_text().split())
    # CI commits `state/` back: anything left out here (backups) would land in Git.
    assert shipped == shown
    assert {"*.backup", ".backups/"} <= shipped


@pytest.mark.parametrize("doc", ["POSTGRES.md", "STATE.md", "CI.md"])
def test_lock_timeout_in_the_docs_is_a_duration(doc: str) -> None:
    text = (ROOT / "docs" / doc).read_text()
    for value in re.findall(r"--lock-timeout[ =]([0-9A-Z][^\s`)]*)", text):
        if value != "DURATION":
            parse_duration(value)  # raises UsageError for anything the CLI would refuse
