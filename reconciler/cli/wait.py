"""``reconciler wait``: poll until the selected runs have ended, then gate them."""

from __future__ import annotations

from typing import Any

import click

from reconciler.cli.options import (
    api_options,
    output_options,
    parallelism_option,
    state_option,
    wait_options,
)
from reconciler.cli.project_config import ConfigCommand
from reconciler.cli.settings import session, wait_settings_from


@click.command(cls=ConfigCommand)
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--target", "targets", multiple=True, metavar="KEY", help="Wait only for this run (repeatable)."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
@wait_options
@parallelism_option
@state_option
@api_options
@output_options
def wait(
    paths: tuple[str, ...], targets: tuple[str, ...], fmt: str, parallelism: int, **kwargs: Any
) -> int:
    """Poll until every selected run has ended, then apply the gates.

    Exit 0 all ended and passed, 3 a gate failed, 4 timed out with runs still going (none
    failed), 1 an error (runs that could not be read are named), 130 interrupted. Results are
    recorded in state as runs end. PATH: the specs that give the gates (default as for plan).
    """
    from reconciler.commands.waiting import wait as run

    settings = wait_settings_from(kwargs, fmt=fmt, parallelism=parallelism)
    return run(session(**kwargs), paths, targets, settings)
