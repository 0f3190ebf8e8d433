"""``findings``: which test cases of each ended run got through, new first, as a function
returning an exit code.

Exit codes as ``status``: 3 when an ended run fails its gate; otherwise 1 when something needed
could not be read (a status, or the findings of a run with failures); otherwise 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from reconciler import logs
from reconciler.commands.common import Session
from reconciler.commands.outputs import sarif_text, say_undecided
from reconciler.commands.reading import NO_KEY, FindingsWanted, read_results
from reconciler.defaults import API_KEY_ENV, DEFAULT_PARALLELISM
from reconciler.errors import UsageError

if TYPE_CHECKING:
    from reconciler.results.summary import ResultSet
    from reconciler.results.views.findings_text import FindingsView

log = logs.Log("reconciler.cli")

EXIT_OK: Final = 0
EXIT_ERROR: Final = 1
FORMATS: Final = ("text", "json", "markdown", "sarif")


@dataclass(frozen=True)
class FindingsOptions:
    """What ``findings`` reads and shows."""

    paths: Sequence[str] = ()
    targets: Sequence[str] = ()
    fmt: str = "text"
    out: str | None = None
    new_only: bool = False
    include_content: bool = False
    content_limit: int = 500
    reread: bool = False
    parallelism: int = DEFAULT_PARALLELISM

    def check(self) -> None:
        if self.parallelism < 1:
            raise UsageError(f"--parallelism must be at least 1, got {self.parallelism}")
        if self.fmt not in FORMATS:
            raise UsageError(f"--format {self.fmt}: use {', '.join(FORMATS)}")
        if self.content_limit < 1:
            raise UsageError(f"--content-limit must be at least 1, got {self.content_limit}")
        if self.out is not None:
            from reconciler.commands.outputs import check_writable

            check_writable(self.out, "--out")


def findings(session: Session, options: FindingsOptions) -> int:
    from reconciler.results.views.findings_text import FindingsView

    options.check()
    # Content is never recorded: showing it means reading the test cases again.
    again = options.reread or options.include_content
    results = read_results(
        session,
        paths=options.paths,
        targets=options.targets,
        parallelism=options.parallelism,
        wanted=FindingsWanted(again=again),
        operation="findings",
    )
    view = FindingsView(
        new_only=options.new_only,
        include_content=options.include_content,
        content_limit=options.content_limit,
    )
    text = _render(session, results, options.fmt, view)
    if options.out is None:
        session.console.out(text, nl=False)
    else:
        from reconciler.files import atomic_write

        try:
            atomic_write(Path(options.out), text.encode("utf-8"))
        except OSError as exc:
            session.console.error(f"--out {options.out}: could not write it ({exc.strerror}).")
            return EXIT_ERROR
        session.console.info(f"Wrote the findings ({options.fmt}) to {options.out}.")
    return _exit_code(session, results)


def _render(session: Session, results: ResultSet, fmt: str, view: FindingsView) -> str:
    if fmt == "json":
        from reconciler.results.views.findings_json import render_findings_json

        return render_findings_json(results, view, indent=session.console.out_is_terminal())
    if fmt == "markdown":
        from reconciler.results.views.markdown import render_markdown

        return render_markdown(
            results,
            title="reconciler findings",
            include_content=view.include_content,
            content_limit=view.content_limit,
        )
    if fmt == "sarif":
        text, notes = sarif_text(
            session,
            results,
            include_content=view.include_content,
            content_limit=view.content_limit,
            new_only=view.new_only,
        )
        for note in notes:
            session.console.warn(note)
        return text
    from reconciler.results.views.findings_text import render_findings_text

    return render_findings_text(results, view)


def _exit_code(session: Session, results: ResultSet) -> int:
    code = results.exit_code()
    if code == EXIT_ERROR:
        say_undecided(session.console, results)
        return code
    if code != EXIT_OK:
        return code
    unread = [r for r in results.rows if r.error is not None]
    unknown = [r for r in results.rows if r.findings is not None and r.findings.error is not None]
    # Findings neither recorded nor readable for want of a key: what this command is for, so
    # not shown is an error, as for a status status cannot read without the key.
    keyless = [
        r
        for r in results.rows
        if r.findings is not None and r.findings.diff is None and r.findings.not_read == NO_KEY
    ]
    if not unread and not unknown and keyless:
        shown = ", ".join(r.key for r in keyless[:10]) + (" ..." if len(keyless) > 10 else "")
        session.console.error(
            f"the findings of {len(keyless)} run{'s' if len(keyless) != 1 else ''} are not "
            f"recorded and could not be read without {API_KEY_ENV}: {shown}. Set it to read "
            "them (recorded findings are shown from state)."
        )
        return EXIT_ERROR
    if not unread and not unknown:
        return EXIT_OK
    names = [r.key for r in unread + unknown]
    shown = ", ".join(names[:10]) + (" ..." if len(names) > 10 else "")
    session.console.error(
        f"could not read everything needed for {len(names)} run{'s' if len(names) != 1 else ''}:"
        f" {shown} (the reasons are above); try `reconciler findings` again later."
    )
    return EXIT_ERROR
