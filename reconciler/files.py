"""Durable file writes shared by everything that rewrites a file users keep (state, plans).

``atomic_write`` never writes a file in place: a crash leaves either the old bytes or the new
ones, whole, and once it returns the new bytes and the rename survive a power cut.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: temporary file in the same directory, fsynced, renamed
    over ``path``, then the directory fsynced so the rename is durable too.

    Raises ``OSError`` (the temporary file removed); callers wrap it in their own error, which
    names what was being written. The directory must exist.
    """
    directory = path.parent
    # Hidden, and ending in .tmp so the state directory's .gitignore skips a leftover one.
    tmp = directory / f".{path.name}.{os.urandom(6).hex()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(path)
        fsync_dir(directory)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd`` (``os.write`` may write less than asked)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def fsync_dir(directory: Path) -> None:
    """Make the directory's entries (a created, renamed or removed file) durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
