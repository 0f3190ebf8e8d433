"""The process entry point: the ``reconciler`` console script and ``python -m reconciler``.

Kept apart from ``reconciler.cli`` so that the cycle collector is paused before anything
heavy is imported: importing click, PyYAML, pydantic and reconciler's models builds tens of
thousands of objects that live until the process ends, and with the collector on, its passes
walk them again and again (about 9 M instructions of a plan, docs/PERFORMANCE.md).
"""

from typing import NoReturn


def main() -> NoReturn:
    """Run the command line of this process, then end it (``reconciler.cli.main``)."""
    from reconciler import collector

    collector.pause()
    from reconciler.cli import main as run_cli

    run_cli()
    raise AssertionError("unreachable: reconciler.cli.main() ends the process")  # pragma: no cover
