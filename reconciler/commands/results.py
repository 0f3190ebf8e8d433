"""``status``: what the tracked runs are doing and what they found, as a function returning
an exit code.

Exit codes: 3 when an ended run fails its gate (a gone run fails too); otherwise 1 when a
selected run that had to be read could not be (an API error, or no ``SPLX_API_KEY``): the user
asked about it and got no answer, so a pipeline must not go green; otherwise 0. Fatal API
errors (401, 403) end the command with exit 1 before anything is shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reconciler import logs
from reconciler.commands.common import Session
from reconciler.commands.outputs import say_undecided
from reconciler.commands.reading import NO_KEY, FindingsWanted, read_results
from reconciler.defaults import API_KEY_ENV, DEFAULT_PARALLELISM
from reconciler.errors import UsageError

if TYPE_CHECKING:
    from reconciler.results.summary import ResultSet

log = logs.Log("reconciler.cli")

EXIT_OK = 0
EXIT_ERROR = 1


@dataclass(frozen=True)
class StatusOptions:
    """What ``status`` shows: which specs give the gates, which keys, in which format."""

    paths: Sequence[str] = ()
    targets: Sequence[str] = ()
    fmt: str = "text"
    parallelism: int = DEFAULT_PARALLELISM
    #: Read the findings of ended runs whose findings are not recorded (``--no-findings``).
    findings: bool = True


def status(session: Session, options: StatusOptions) -> int:

    if options.parallelism < 1:
        raise UsageError(f"--parallelism must be at least 1, got {options.parallelism}")
    if options.fmt not in ("text", "json", "markdown"):
        raise UsageError(f"--format {options.fmt}: use text, json or markdown")
    results = read_results(
        session,
        paths=options.paths,
        targets=options.targets,
        parallelism=options.parallelism,
        wanted=FindingsWanted(options.findings),
        operation="status",
    )
    _show(session, results, options.fmt)
    return _exit_code(session, results)


def _show(session: Session, results: ResultSet, fmt: str) -> None:
    if fmt == "json":
        from reconciler.results.views.json import render_status_json

        console = session.console
        console.out(render_status_json(results, indent=console.out_is_terminal()), nl=False)
        return
    if fmt == "markdown":
        from reconciler.results.views.markdown import render_markdown

        session.console.out(render_markdown(results), nl=False)
        return
    from reconciler.results.views.text import render_status

    session.console.out(render_status(results, color=session.console.color), nl=False)


def _exit_code(session: Session, results: ResultSet) -> int:
    code = results.exit_code()
    if code == EXIT_ERROR:
        say_undecided(session.console, results)
    unread = results.unreadable
    if code != EXIT_OK or not unread:
        return code
    names = ", ".join(row.key for row in unread[:10]) + (" ..." if len(unread) > 10 else "")
    if all(row.error == NO_KEY for row in unread):
        session.console.error(
            f"{len(unread)} run{'s' if len(unread) != 1 else ''} not ended could not be read "
            f"without {API_KEY_ENV}: {names}. Set it to read them (runs that have ended are "
            "shown from state)."
        )
    else:
        session.console.error(
            f"could not read {len(unread)} run{'s' if len(unread) != 1 else ''}: {names} "
            "(the reasons are above); try again later."
        )
    return EXIT_ERROR
