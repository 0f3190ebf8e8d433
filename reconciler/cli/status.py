"""``reconciler status``: each tracked run's status, counts, gate verdict and link."""

from __future__ import annotations

from typing import Any

import click

from reconciler.cli.options import (
    api_options,
    no_findings_option,
    output_options,
    parallelism_option,
    state_option,
)
from reconciler.cli.project_config import ConfigCommand
from reconciler.cli.settings import session


@click.command(cls=ConfigCommand)
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--target", "targets", multiple=True, metavar="KEY", help="Show only this run (repeatable)."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
)
@no_findings_option
@parallelism_option
@state_option
@api_options
@output_options
def status(
    paths: tuple[str, ...],
    *,
    targets: tuple[str, ...],
    fmt: str,
    parallelism: int,
    no_findings: bool,
    **kwargs: Any,
) -> int:
    """Each tracked run: status, test cases passed/failed/errored, gate verdict, link.

    Exit 0 when no ended run failed its gate, 3 when one did, 1 when a run could not be read.
    PATH: the specs that give the gates (default as for plan).
    """
    from reconciler.commands.results import StatusOptions
    from reconciler.commands.results import status as run

    options = StatusOptions(
        paths=paths,
        targets=targets,
        fmt=fmt,
        parallelism=parallelism,
        findings=not no_findings,
    )
    return run(session(**kwargs), options)
