"""``reconciler report``: one self-contained HTML page of the latest results."""

from __future__ import annotations

from typing import Any

import click

from reconciler.cli.options import (
    api_options,
    content_options,
    output_options,
    parallelism_option,
    refresh_options,
    state_option,
)
from reconciler.cli.project_config import ConfigCommand
from reconciler.cli.settings import refresh_wanted, session


@click.command(cls=ConfigCommand)
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--target", "targets", multiple=True, metavar="KEY", help="Show only this run (repeatable)."
)
@click.option(
    "--out",
    required=True,
    metavar="FILE",
    help="The HTML file to write (its directory is created if missing).",
)
@click.option(
    "--pdf",
    "pdf_dir",
    default=None,
    metavar="DIR",
    help="Also download each ended run's PDF report from the platform into DIR, linked from "
    "the page.",
)
@content_options
@refresh_options
@parallelism_option
@state_option
@api_options
@output_options
def report(
    paths: tuple[str, ...],
    *,
    targets: tuple[str, ...],
    out: str,
    pdf_dir: str | None,
    parallelism: int,
    include_content: bool,
    content_limit: int,
    **kwargs: Any,
) -> int:
    """Write one self-contained HTML page of the latest results (a heat map, the runs and
    their findings, each key's trend)."""
    from reconciler.commands.report import ReportOptions
    from reconciler.commands.report import report as run

    options = ReportOptions(
        out=out,
        paths=list(paths),
        targets=list(targets),
        refresh=refresh_wanted(kwargs),
        pdf_dir=pdf_dir,
        parallelism=parallelism,
        include_content=include_content,
        content_limit=content_limit,
    )
    return run(session(**kwargs), options)
