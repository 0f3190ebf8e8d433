"""``reconciler schema``: the JSON Schema of spec files or of reconciler.yaml."""

from __future__ import annotations

import click


@click.command()  # reads no project config: its --config is another option
@click.option(
    "--config", "of_config", is_flag=True, help="Print the schema of reconciler.yaml instead."
)
def schema(of_config: bool) -> int:
    """Print the JSON Schema of spec files, or of reconciler.yaml (for editors)."""
    import json

    if of_config:
        from reconciler.config import config_json_schema as make
    else:
        from reconciler.spec.schema import spec_json_schema as make

    click.echo(json.dumps(make(), indent=2, sort_keys=True))
    return 0
