"""``reconciler.files.atomic_write``, and that both writers of user files go through it."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.files import atomic_write
from reconciler.plan.saved import save_plan
from reconciler.state.local import LocalStateStore
from reconciler.state.model import State
from tests.plan.samples import empty_plan


@pytest.fixture
def fsynced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What every ``os.fsync`` call flushed: 'dir' or 'file'."""
    seen: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        seen.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    return seen


def test_atomic_write_replaces_the_file_and_syncs_file_then_directory(
    tmp_path: Path, fsynced: list[str]
) -> None:
    target = tmp_path / "f.json"
    target.write_bytes(b"old")
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new"
    assert fsynced == ["file", "dir"]
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_atomic_write_failure_keeps_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    target.mkdir()  # a rename of a file onto a directory fails
    with pytest.raises(OSError):
        atomic_write(target, b"new")
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def save_state(path: Path) -> None:
    store = LocalStateStore(path)
    with store.lock("test"):
        store.persist(State.new())


@pytest.mark.parametrize(
    "write",
    [lambda path: save_plan(empty_plan(), path), save_state],
    ids=["saved plan", "local state"],
)
def test_writers_make_the_rename_durable(
    tmp_path: Path, fsynced: list[str], write: Callable[[Path], None]
) -> None:
    target = tmp_path / "out.json"
    write(target)
    # The file's bytes are flushed before the rename, and the rename itself after it.
    assert "file" in fsynced
    assert "dir" in fsynced[fsynced.index("file") :]
