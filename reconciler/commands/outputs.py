"""What several commands write or say the same way: files checked before any work starts, the
SARIF document of a result set, and the error line of gates that could not be decided."""

from __future__ import annotations

import os
import shlex
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Final

from reconciler import logs
from reconciler.errors import UsageError

if TYPE_CHECKING:
    from reconciler.commands.common import Session
    from reconciler.results.summary import ResultSet
    from reconciler.ui import Console

log = logs.Log("reconciler.cli")

#: Environment variable naming the repository root in GitHub Actions (SARIF locations).
WORKSPACE_ENV: Final = "GITHUB_WORKSPACE"


def check_writable(given: str, option: str) -> Path:
    """``given`` can be written atomically (a temporary file beside it, then a rename): its
    directory exists and takes a new file. Tried for real, since permission bits do not tell
    (a read-only mount, an ACL, root)."""
    path = Path(given)
    directory = path.parent
    if path.is_dir():
        raise UsageError(
            f"{option} {given}: is a directory; give a file name, e.g. {given}/junit.xml"
        )
    if not directory.is_dir():
        what = "is not a directory" if directory.exists() else "does not exist"
        raise UsageError(
            f"{option} {given}: the directory {directory} {what}; create it first "
            f"(mkdir -p {shlex.quote(str(directory))}) or choose another path. Nothing was "
            "waited for."
        )
    probe = directory / f".{path.name}.{uuid.uuid4().hex[:8]}.probe"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        probe.unlink()
    except OSError as exc:
        raise UsageError(
            f"{option} {given}: cannot write in {directory} ({exc.strerror or exc}); choose a "
            "writable directory. Nothing was waited for."
        ) from None
    return path


def repository_root(env: Mapping[str, str]) -> Path | None:
    """The root SARIF locations are relative to: ``GITHUB_WORKSPACE`` in GitHub Actions, else
    the nearest directory above the current one that holds ``.git``; None when neither."""
    given = env.get(WORKSPACE_ENV)
    if given:
        return Path(given).resolve()
    here = Path.cwd().resolve()
    for directory in (here, *here.parents):
        if (directory / ".git").exists():
            return directory
    return None


def sarif_text(
    session: Session,
    results: ResultSet,
    *,
    include_content: bool,
    content_limit: int,
    new_only: bool = False,
) -> tuple[str, list[str]]:
    """The SARIF document of ``results`` and the notes of what it left out."""
    from reconciler import __version__
    from reconciler.results.views.sarif import render_sarif

    document = render_sarif(
        results,
        repo_root=repository_root(session.settings.env),
        tool_version=__version__,
        include_content=include_content,
        content_limit=content_limit or 500,
        new_only=new_only,
    )
    return document.text, list(document.notes)


def write_sarif(session: Session, results: ResultSet, path: str) -> bool:
    """Write the findings as SARIF (notes of what was left out on stderr); True on failure."""
    from reconciler.files import atomic_write

    text, notes = sarif_text(session, results, include_content=False, content_limit=0)
    for note in notes:
        session.console.warn(note)
    try:
        atomic_write(Path(path), text.encode("utf-8"))
    except OSError as exc:
        session.console.error(f"--sarif {path}: could not write it ({exc.strerror or exc}).")
        return True
    log.info("wrote the SARIF findings to %s", path)
    return False


def say_undecided(console: Console, results: ResultSet) -> None:
    """The error line of gates that failed closed for want of findings."""
    rows = results.undecided
    names = ", ".join(row.key for row in rows[:10]) + (" ..." if len(rows) > 10 else "")
    console.error(
        f"the gate of {len(rows)} run{'s' if len(rows) != 1 else ''} needs findings that could "
        f"not be read: {names} (the reasons are above); run `reconciler findings` again later."
    )
