"""A real PostgreSQL server for the tests, and a fresh location on it per test.

``pg_dsn`` (session): ``RECONCILER_TEST_PG_DSN`` when set; otherwise a throwaway server started
by ``scripts/pg-test-server`` (initdb in a temporary directory, 127.0.0.1, a free port,
``fsync=off``) and stopped at the end of the session. When no server can be had, or psycopg is
missing, the tests that need them skip saying why, except under CI (``CI`` set to anything but
empty, ``0``, ``false`` or ``no``), where that is a failure: CI must run them.

``pg_location`` (function): a ``--state`` URL on that server in a schema of its own, so every
test starts from an empty database (and exercises the migrations); the schema is dropped
afterwards. Import the ``*_fixture`` functions into the test module that uses them (they
register under the short names, so test parameters do not shadow the imports).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "pg-test-server"


def in_ci() -> bool:
    """True on a CI runner (``CI=true``, as GitHub, GitLab and .ci/run set it)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _unavailable(message: str) -> None:
    if in_ci():
        pytest.fail(f"{message}; CI must run the PostgreSQL tests", pytrace=False)
    pytest.skip(message)


def _no_server(reason: str) -> None:
    _unavailable(
        f"no PostgreSQL server: {reason} (run 'scripts/pg-test-server install', "
        "or set RECONCILER_TEST_PG_DSN)"
    )


@pytest.fixture(scope="session", name="psycopg_module")
def psycopg_module_fixture() -> ModuleType:
    """psycopg, for tests that talk to a server; skips (fails in CI) when it is missing."""
    try:
        import psycopg
    except ImportError:
        _unavailable("psycopg is not installed: pip install -e '.[postgres]'")
    return psycopg


@pytest.fixture(scope="session", name="pg_dsn")
def pg_dsn_fixture(psycopg_module: ModuleType) -> Iterator[str]:
    """The URL of a PostgreSQL server whose role may create schemas."""
    given = os.environ.get("RECONCILER_TEST_PG_DSN")
    if given:
        yield given
        return
    if shutil.which("bash") is None:
        _no_server("bash is needed to run scripts/pg-test-server")
    directory = tempfile.mkdtemp(prefix="reconciler-pg-")
    started = subprocess.run(
        ["bash", str(SCRIPT), "start", directory],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if started.returncode != 0:
        subprocess.run(["bash", str(SCRIPT), "stop", directory], check=False, timeout=60)
        _no_server(started.stderr.strip().splitlines()[-1] if started.stderr else "start failed")
    try:
        yield started.stdout.strip()
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", directory], check=False, timeout=60)


def with_search_path(url: str, schema: str) -> str:
    """``url`` connecting with ``schema`` first on the search path."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-csearch_path={schema}"))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


@pytest.fixture(name="pg_schema")
def pg_schema_fixture(pg_dsn: str, psycopg_module: ModuleType) -> Iterator[str]:
    """A fresh, empty schema on the test server, dropped afterwards."""
    psycopg = psycopg_module
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute("SET lock_timeout = '5s'")
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(name="pg_location")
def pg_location_fixture(pg_dsn: str, pg_schema: str) -> str:
    """A ``--state`` URL naming a state nobody has written, in its own schema."""
    return with_search_path(pg_dsn, pg_schema) + "#test"
