"""Where the project config is: the nearest ``reconciler.yaml`` up to the repository root.

Kept apart from ``reconciler.config`` (the file's model and loader) so that every command can
look for the file without building that model, which only a found file needs.
"""

from __future__ import annotations

from pathlib import Path

CONFIG_NAME = "reconciler.yaml"


def find_project_config(start: Path) -> Path | None:
    """The nearest ``reconciler.yaml`` in ``start`` or above, up to the repository root."""
    directory = start.absolute()
    for candidate in (directory, *directory.parents):
        path = candidate / CONFIG_NAME
        if path.is_file():
            return path
        if (candidate / ".git").exists():
            return None  # the repository root: a config above it belongs to something else
    return None
