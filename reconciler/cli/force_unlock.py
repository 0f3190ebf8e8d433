"""``reconciler force-unlock``: remove a stale state lock."""

from __future__ import annotations

from typing import Any

import click

from reconciler.cli.options import output_options, state_option
from reconciler.cli.project_config import ConfigCommand
from reconciler.cli.settings import session


@click.command("force-unlock", cls=ConfigCommand)
@click.argument("lock_id")
@state_option
@output_options
def force_unlock(lock_id: str, **kwargs: Any) -> int:
    """Remove a stale state lock by its id."""
    from reconciler.commands.state_cmds import force_unlock as run

    return run(session(**kwargs), lock_id)
