"""CLI tests share the end-to-end harness: the simulator on loopback and the CLI runner."""

from tests.e2e.conftest import cli, run, sim

__all__ = ["cli", "run", "sim"]
