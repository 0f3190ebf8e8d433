"""``reconciler findings``: the failed test cases of ended runs, new, known and fixed."""

from __future__ import annotations

from typing import Any

import click

from reconciler.cli.options import (
    api_options,
    content_options,
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
@click.option("--new", "new_only", is_flag=True, help="Show only new findings.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown", "sarif"]),
    default="text",
    show_default=True,
)
@click.option("--out", metavar="FILE", default=None, help="Write to FILE instead of stdout.")
@content_options
@click.option(
    "--reread",
    is_flag=True,
    help="Read the findings again even where they are recorded (after a triage in the web UI).",
)
@parallelism_option
@state_option
@api_options
@output_options
def findings(
    paths: tuple[str, ...],
    *,
    targets: tuple[str, ...],
    new_only: bool,
    fmt: str,
    out: str | None,
    include_content: bool,
    content_limit: int,
    reread: bool,
    parallelism: int,
    **kwargs: Any,
) -> int:
    """Each ended run's findings (failed test cases): new first, then known, then fixed.

    New: not among the findings of the key's previous ended run. Exit 0, 3 when a gate fails,
    1 when something needed could not be read. PATH: the specs (gates and, for SARIF, where
    each run is declared; default as for plan).
    """
    from reconciler.commands.findings import FindingsOptions
    from reconciler.commands.findings import findings as run

    options = FindingsOptions(
        paths=paths,
        targets=targets,
        fmt=fmt,
        out=out,
        new_only=new_only,
        include_content=include_content,
        content_limit=content_limit,
        reread=reread,
        parallelism=parallelism,
    )
    return run(session(**kwargs), options)
