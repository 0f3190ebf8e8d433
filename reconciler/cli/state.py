"""``reconciler state list|show|rm|copy``: read the state, forget runs, copy it elsewhere."""

from __future__ import annotations

from typing import Any

import click

from reconciler.cli.options import (
    lock_option,
    output_options,
    platform_option,
    state_option,
    state_options,
)
from reconciler.cli.project_config import ConfigGroup
from reconciler.cli.settings import session


@click.group(cls=ConfigGroup)
def state() -> None:
    """Read the state, or forget a run without cancelling it."""


@state.command("list")
@state_option
@output_options
def state_list(**kwargs: Any) -> int:
    """List the keys in state with their run ids."""
    from reconciler.commands.state_cmds import state_list as run

    return run(session(**kwargs))


@state.command("show")
@click.argument("key")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@state_option
@platform_option
@output_options
def state_show(key: str, as_json: bool, **kwargs: Any) -> int:
    """Show one run in state."""
    from reconciler.commands.state_cmds import state_show as run

    return run(session(**kwargs), key, as_json=as_json)


@state.command("rm")
@click.argument("keys", nargs=-1, required=True)
@state_options
@output_options
def state_rm(keys: tuple[str, ...], **kwargs: Any) -> int:
    """Forget runs without cancelling them."""
    from reconciler.commands.state_cmds import state_rm as run

    return run(session(**kwargs), keys)


@state.command("copy")
@click.argument("source", metavar="SRC")
@click.argument("destination", metavar="DST")
@lock_option
@output_options
def state_copy(source: str, destination: str, **kwargs: Any) -> int:
    """Copy a state between locations (file ↔ postgresql://), keeping lineage and serial."""
    from reconciler.commands.state_cmds import state_copy as run

    return run(session(**kwargs), source, destination)
