"""``reconciler apply``: plan, approve, trigger and cancel; with ``--wait``, then wait and gate."""

from __future__ import annotations

from typing import Any

import click

from reconciler.cli.options import (
    api_options,
    output_options,
    plan_options,
    refresh_options,
    run_options,
    state_options,
    wait_options,
)
from reconciler.cli.project_config import ConfigCommand
from reconciler.cli.settings import plan_options_from, session, wait_settings_from


@click.command(cls=ConfigCommand)
@click.argument("paths", nargs=-1, type=click.Path())
@plan_options
@click.option(
    "--plan", "plan_file", metavar="FILE", help="Apply a plan saved by `plan --out FILE`."
)
@click.option(
    "--wait",
    "wait_after",
    is_flag=True,
    help="Then wait for the runs this apply triggered or replaced and gate them "
    "(exit 3: a gate failed, 4: timed out).",
)
@wait_options
@refresh_options
@run_options
@state_options
@api_options
@output_options
def apply(
    paths: tuple[str, ...],
    plan_file: str | None,
    auto_approve: bool,
    parallelism: int,
    wait_after: bool,
    **kwargs: Any,
) -> int:
    """Plan, ask for approval, then trigger and cancel runs and record them in state."""
    from reconciler.commands.planning import apply as run
    from reconciler.errors import UsageError
    from reconciler.ui import stdin_is_terminal

    shaping = ("targets", "replace", "retrigger_unknown", "force", "allow_empty", "no_refresh")
    shaped = any(kwargs.get(name) for name in shaping) or kwargs.get("refresh") is not None
    if plan_file and (paths or shaped):
        raise UsageError(
            "--plan FILE applies the saved plan as it was reviewed: give no PATH, --target, "
            "--replace, --retrigger-unknown, --force, --allow-empty or --refresh (give them "
            "to `reconciler plan --out FILE` instead)"
        )
    waiting = wait_settings_from(kwargs, parallelism=parallelism)
    ctx = click.get_current_context()
    given = [
        f"--{name}"
        for name in ("timeout", "interval", "junit", "sarif", "no_findings")
        if ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE
    ]
    if given and not wait_after:
        option = given[0].replace("_", "-")
        raise UsageError(f"{option} only applies with --wait: add --wait, or drop {option}")
    return run(
        session(**kwargs),
        plan_options_from(paths, kwargs),
        plan_file=plan_file,
        auto_approve=auto_approve,
        parallelism=parallelism,
        interactive=stdin_is_terminal(),
        wait=waiting if wait_after else None,
    )
