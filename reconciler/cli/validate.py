"""``reconciler validate``: check spec files offline."""

from __future__ import annotations

from typing import Any

import click

from reconciler.cli.options import output_options
from reconciler.cli.project_config import ConfigCommand
from reconciler.cli.settings import session


@click.command(cls=ConfigCommand)
@click.argument("paths", nargs=-1, type=click.Path())
@output_options
def validate(paths: tuple[str, ...], **kwargs: Any) -> int:
    """Check spec files offline (default path: specs/)."""
    from reconciler.commands.planning import validate as run

    return run(session(**kwargs), paths)
