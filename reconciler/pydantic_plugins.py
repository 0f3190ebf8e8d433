"""Spare the CLI process pydantic's plugin lookup when no pydantic plugin is installed.

pydantic finds plugins through the ``pydantic`` entry-point group: the first model it builds
imports ``pydantic.plugin._loader``, which imports ``importlib.metadata`` (and with it
``email``, ``zipfile``, ``csv``...) and reads the metadata of every installed distribution.
For a no-change plan of 1,000 runs that is about 58 M instructions, 5% of the plan, to find
nothing in nearly every installation. pydantic's documented switch,
``PYDANTIC_DISABLE_PLUGINS=__all__``, skips the reading but not the import, which is most of
the cost.

So the CLI looks for the group itself, cheaply: the ``entry_points.txt`` of each
``*.dist-info``/``*.egg-info`` directory on ``sys.path``, which is where ``importlib.metadata``
finds them. Only when that scan is sure no plugin exists does it give pydantic a loader that
returns none, exactly what the real one returns then. Anything the scan cannot read as
plainly as ``importlib.metadata`` would (a zip or egg on the path, a finder of distributions of
its own, an unreadable file) leaves pydantic to look for itself, as does
``PYDANTIC_DISABLE_PLUGINS`` set to anything: the user has asked for pydantic's own handling.

Only ``reconciler.cli.main`` run as the process's command calls this: a program that embeds
reconciler keeps pydantic exactly as it is.
"""

from __future__ import annotations

import os
import re
import sys
import types
from collections.abc import Iterable, Mapping, Sequence
from importlib.machinery import PathFinder
from pathlib import Path
from typing import Any

#: The module pydantic imports to find plugins (``pydantic.plugin._schema_validator``).
LOADER_MODULE = "pydantic.plugin._loader"
#: A section ``[pydantic]`` of an entry_points.txt: a distribution that declares a plugin.
#: Compiled on first use (``re`` keeps it): only a file that names pydantic at all needs it.
_GROUP = r"^[ \t]*\[[ \t]*pydantic[ \t]*\][ \t]*$"


def skip_lookup_when_none_installed(
    path: Sequence[str] | None = None,
    meta_path: Sequence[object] | None = None,
    env: Mapping[str, str] | None = None,
) -> bool:
    """Give pydantic a plugin loader that finds none, when surely none is installed.

    Call before the first model is built. True when the lookup will be skipped.
    """
    env = os.environ if env is None else env
    if "PYDANTIC_DISABLE_PLUGINS" in env or LOADER_MODULE in sys.modules:
        return False
    if plugins_may_exist(sys.path if path is None else path, meta_path):
        return False
    sys.modules[LOADER_MODULE] = _empty_loader()
    return True


def plugins_may_exist(path: Iterable[str], meta_path: Sequence[object] | None = None) -> bool:
    """False only when no distribution on ``path`` declares the ``pydantic`` entry-point
    group and nothing else could supply one; True whenever in doubt."""
    for finder in sys.meta_path if meta_path is None else meta_path:
        # importlib.metadata asks every finder that can list distributions; only the
        # standard path finder's are the directories scanned below.
        if finder is not PathFinder and hasattr(finder, "find_distributions"):
            return True
    for entry in path:
        root = entry or "."
        if root.lower().endswith(".egg"):
            return True
        try:
            with os.scandir(root) as children:
                names = [(c.name, c.path) for c in children if c.is_dir()]
        except FileNotFoundError:
            continue
        except NotADirectoryError:
            return True  # a zip file on the path: its metadata is not read here
        except OSError:
            return True
        for name, where in names:
            if name.lower().endswith((".dist-info", ".egg-info")) and _declares_plugin(where):
                return True
    return False


def _declares_plugin(distribution: str) -> bool:
    try:
        text = Path(distribution, "entry_points.txt").read_text(encoding="utf-8")
    except FileNotFoundError:
        return False
    except (OSError, UnicodeDecodeError):
        return True
    if "pydantic" not in text.lower():
        return False
    return re.search(_GROUP, text, re.MULTILINE | re.IGNORECASE) is not None


def _empty_loader() -> types.ModuleType:
    """Stands in for ``pydantic.plugin._loader``: ``get_plugins`` finds none. Any other name
    pydantic may ask of it loads the real module, so nothing breaks if pydantic changes."""
    module = types.ModuleType(LOADER_MODULE)

    def get_plugins() -> tuple[()]:
        return ()

    def real(name: str) -> Any:
        if name.startswith("__"):
            # The import system asks whether the module is a package (``__path__``) and
            # the like: answered as for any plain module, without loading the real one.
            raise AttributeError(name)
        import importlib

        del sys.modules[LOADER_MODULE]
        return getattr(importlib.import_module(LOADER_MODULE), name)

    module.get_plugins = get_plugins  # type: ignore[attr-defined]
    module.__getattr__ = real  # type: ignore[method-assign]
    return module
