"""``reconciler plan``: show what apply would do."""

from __future__ import annotations

from typing import Any

import click

from reconciler.cli.options import (
    api_options,
    output_options,
    parallelism_option,
    plan_options,
    refresh_options,
    state_option,
)
from reconciler.cli.project_config import ConfigCommand
from reconciler.cli.settings import plan_options_from, session


@click.command(cls=ConfigCommand)
@click.argument("paths", nargs=-1, type=click.Path())
@plan_options
@click.option("--out", metavar="FILE", help="Save the plan for `apply --plan FILE`.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there are no changes, 1 on error, 2 when there are changes.",
)
@refresh_options
@parallelism_option
@click.option(
    "--lock-timeout",
    "ignored_lock_timeout",
    metavar="DURATION",
    help="Accepted so that scripts shared with apply work; plan takes no lock, so it is ignored.",
)
@state_option
@api_options
@output_options
def plan(
    paths: tuple[str, ...],
    out: str | None,
    fmt: str,
    detailed_exitcode: bool,
    parallelism: int,
    **kwargs: Any,
) -> int:
    """Show what apply would do; change nothing."""
    from reconciler.commands.planning import plan as run

    ignored_lock_timeout = kwargs.pop("ignored_lock_timeout", None)
    if ignored_lock_timeout is not None:
        from reconciler.commands.common import parse_duration

        parse_duration(
            ignored_lock_timeout, "--lock-timeout"
        )  # a typo is still an error, as it is for apply
        if not kwargs.get("quiet"):
            click.echo(
                f"Note: plan takes no state lock; --lock-timeout {ignored_lock_timeout} is "
                "ignored.",
                err=True,
            )

    return run(
        session(**kwargs),
        plan_options_from(paths, kwargs),
        out=out,
        fmt=fmt,
        detailed_exitcode=detailed_exitcode,
        parallelism=parallelism,
    )
