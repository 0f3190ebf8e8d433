"""``reconciler import``: adopt a run triggered elsewhere."""

from __future__ import annotations

from typing import Any

import click

from reconciler.cli.options import api_options, output_options, state_options
from reconciler.cli.project_config import ConfigCommand
from reconciler.cli.settings import session


@click.command("import", cls=ConfigCommand)
@click.argument("key")
@click.argument("test_run_id", type=int)
@click.argument("paths", nargs=-1, type=click.Path())
@state_options
@api_options
@output_options
def import_(key: str, test_run_id: int, paths: tuple[str, ...], **kwargs: Any) -> int:
    """Adopt a run triggered elsewhere as KEY (which must be declared in the specs)."""
    from reconciler.commands.state_cmds import import_run as run

    return run(session(**kwargs), key, test_run_id, paths)
