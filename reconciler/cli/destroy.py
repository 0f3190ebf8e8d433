"""``reconciler destroy``: cancel every run the state tracks."""

from __future__ import annotations

from typing import Any

import click

from reconciler.cli.options import (
    api_options,
    output_options,
    refresh_options,
    run_options,
    state_options,
)
from reconciler.cli.project_config import ConfigCommand
from reconciler.cli.settings import plan_options_from, session


@click.command(cls=ConfigCommand)
@click.argument("paths", nargs=-1, type=click.Path())
@run_options
@click.option("--target", "targets", multiple=True, metavar="KEY", help="Cancel only this run.")
@click.option(
    "--force",
    is_flag=True,
    help="Cancel every tracked run even when no spec files are found (protect marks unknown).",
)
@refresh_options
@state_options
@api_options
@output_options
def destroy(paths: tuple[str, ...], auto_approve: bool, parallelism: int, **kwargs: Any) -> int:
    """Cancel every run the state tracks (specs are read only for `protect`)."""
    from reconciler.commands.planning import apply as run
    from reconciler.ui import stdin_is_terminal

    return run(
        session(**kwargs),
        plan_options_from(paths, kwargs, destroy=True),
        plan_file=None,
        auto_approve=auto_approve,
        parallelism=parallelism,
        interactive=stdin_is_terminal(),
    )
