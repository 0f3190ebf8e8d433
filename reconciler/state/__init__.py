"""State storage: where reconciler remembers which runs it triggered.

``open_store(location)`` picks the backend from the location: a ``postgres://`` or
``postgresql://`` URL is a PostgreSQL state (optional extra ``reconciler[postgres]``),
anything else is a path to a local state file.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from reconciler.errors import StateError
from reconciler.state.local import LocalStateStore
from reconciler.state.store import StateStore

_POSTGRES_SCHEMES = ("postgres://", "postgresql://")


def open_store(location: str) -> StateStore:
    """The store for ``--state LOCATION``; nothing is read or locked yet."""
    if location.lower().startswith(_POSTGRES_SCHEMES):
        return _open_postgres(location)
    return LocalStateStore(Path(location))


def _open_postgres(url: str) -> StateStore:
    # Imported lazily: psycopg is an optional dependency and local users never need it.
    try:
        module = importlib.import_module("reconciler.state.postgres")
    except ImportError as exc:
        raise StateError(
            "a PostgreSQL state needs the optional dependency psycopg "
            f"({exc.msg}); install it with: pip install 'reconciler[postgres]'"
        ) from None
    store: StateStore = module.PostgresStateStore(url)
    return store


__all__ = ["LocalStateStore", "StateStore", "open_store"]
