"""What a state location names, told apart without importing any backend (the project config
and the CLI need it before a store exists, and it sits below them all)."""

from __future__ import annotations

_POSTGRES_SCHEMES = ("postgres://", "postgresql://")


def is_postgres_url(location: str) -> bool:
    """True when ``--state LOCATION`` names a PostgreSQL state rather than a file.

    The one test of it everywhere (the CLI, the project config, the stores); importable without
    psycopg.
    """
    return location.lower().startswith(_POSTGRES_SCHEMES)
