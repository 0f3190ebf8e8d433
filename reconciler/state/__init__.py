"""State storage: where reconciler remembers which runs it triggered.

``open_store(location)`` picks the backend from the location: a ``postgres://`` or
``postgresql://`` URL (``is_postgres_url``) is a PostgreSQL state (optional extra
``splx-reconciler[postgres]``), anything else is a path to a local state file.
"""

from __future__ import annotations

from pathlib import Path

from reconciler.locations import is_postgres_url
from reconciler.state.local import LocalStateStore
from reconciler.state.store import StateStore


def open_store(location: str) -> StateStore:
    """The store for ``--state LOCATION``; nothing is read or locked yet.

    Raises ``UsageError`` for a malformed PostgreSQL URL and ``StateError`` when psycopg, which
    a PostgreSQL state needs, is not installed.
    """
    if is_postgres_url(location):
        # Imported here: it is what a PostgreSQL state needs, and local users never do. The
        # module itself imports psycopg lazily and says how to install it when it is missing.
        from reconciler.state.postgres import PostgresStateStore

        return PostgresStateStore(location)
    return LocalStateStore(Path(location))


__all__ = ["LocalStateStore", "StateStore", "is_postgres_url", "open_store"]
