"""Command-line interface (placeholder until the commands land)."""

import click


@click.group()
def main() -> None:
    """reconciler: SPLX Probe test runs as code."""
