"""The PostgreSQL state backend against a real server (see ``pg_fixtures``).

``TestPostgresStateStore`` runs the shared contract suite (``tests/state/contract.py``) through
its hooks (``location``, ``make_store``, ``write_raw``, ``read_raw``, ``read_backup``), plus what
only PostgreSQL has: several states in one database, schema migrations, other processes holding
the lock, force-unlock ending a session, secrets kept out of messages, and copies to and from
a state file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from reconciler import cli
from reconciler.errors import (
    LineageError,
    LockError,
    StateCorruptError,
    StateError,
    StateVersionError,
    UsageError,
)
from reconciler.state import is_postgres_url, open_store, postgres
from reconciler.state.codec import decode_state, encode_record
from reconciler.state.local import LocalStateStore
from reconciler.state.migrate import copy_state
from reconciler.state.model import JournalRecord
from reconciler.state.postgres import PostgresStateStore, parse_postgres_url
from reconciler.state.store import StateStore
from tests.factories import attrs, tracked
from tests.state.contract import (
    StateStoreContract,
    StoreFactory,
    persisted,
    state_with,
)
from tests.state.pg_fixtures import (  # noqa: F401 - fixtures, registered by import
    pg_dsn_fixture,
    pg_location_fixture,
    pg_schema_fixture,
    psycopg_module_fixture,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def sql(location: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run one statement on the location's database, bypassing the store."""
    import psycopg  # the tests that get here have a server, so psycopg is installed

    with psycopg.connect(parse_postgres_url(location).conninfo, autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


# --- a child process holding the lock --------------------------------------------------------

_CHILD = textwrap.dedent(
    """
    import sys
    from reconciler.records import RunAttributes
    from reconciler.state.model import JournalRecord
    from reconciler.state.postgres import PostgresStateStore

    store = PostgresStateStore(sys.argv[1])
    with store.lock("apply") as info:
        store.recover()
        attrs = RunAttributes(workspace_id=7, target_id=1, probe_ids=(1,), name="r")
        store.append(JournalRecord(op="trigger-intent", key="a", attributes=attrs))
        print(info.id, flush=True)
        sys.stdin.readline()  # parent says: go on (or kills us meanwhile)
        try:
            store.append(JournalRecord(op="trigger-done", key="a", testRunId=11))
            print("appended", flush=True)
        except Exception as err:
            print(type(err).__name__, flush=True)
    """
)


class Child:
    """A process that takes the lock, journals a trigger intent, then waits for a line."""

    def __init__(self, location: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, location],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.lock_id = self.proc.stdout.readline().strip()
        assert self.lock_id, "the child did not take the lock"

    def go_on(self) -> str:
        out, _ = self.proc.communicate("\n", timeout=30)
        return out.strip()

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def child(pg_location: str) -> Iterator[Callable[[], Child]]:
    children: list[Child] = []

    def start() -> Child:
        children.append(Child(pg_location))
        return children[-1]

    yield start
    for each in children:
        each.kill()


# --- the PostgreSQL backend --------------------------------------------------------------------


class TestPostgresStateStore(StateStoreContract):
    """The protocol on a real server, plus what only PostgreSQL has."""

    @pytest.fixture
    def location(self, pg_location: str) -> str:
        return pg_location

    @pytest.fixture
    def make_store(self, location: str) -> StoreFactory:
        return lambda: PostgresStateStore(location)

    def write_raw(self, location: str, data: bytes) -> None:
        PostgresStateStore(location).exists()  # creates the tables
        sql(
            location,
            "INSERT INTO reconciler_states (name, body) VALUES (%s, %s)"
            " ON CONFLICT (name) DO UPDATE SET body = excluded.body",
            parse_postgres_url(location).name,
            data,
        )

    def read_raw(self, location: str) -> bytes | None:
        rows = sql(
            location,
            "SELECT body FROM reconciler_states WHERE name = %s",
            parse_postgres_url(location).name,
        )
        return bytes(rows[0][0]) if rows else None

    def read_backup(self, location: str) -> bytes | None:
        rows = sql(
            location,
            "SELECT body FROM reconciler_backups WHERE name = %s ORDER BY id DESC LIMIT 1",
            parse_postgres_url(location).name,
        )
        return bytes(rows[0][0]) if rows else None

    # -- processes ---------------------------------------------------------------------------

    def test_killed_holder_loses_nothing_and_its_lock_is_taken_over(
        self, make_store: StoreFactory, child: Callable[[], Child]
    ) -> None:
        store = make_store()
        holder = child()
        with pytest.raises(LockError, match=holder.lock_id), store.lock("apply"):
            pass
        holder.kill()  # SIGKILL between the intent and the outcome
        with store.lock("apply", timeout=10):
            assert store.stale_lock is not None
            assert store.stale_lock.id == holder.lock_id
            assert store.stale_lock.pid == holder.proc.pid
            entry = store.recover().runs["a"]
        assert entry.status == "unknown"
        assert make_store().journal() == []

    def test_waiter_gets_the_lock_when_the_other_process_finishes(
        self, make_store: StoreFactory, child: Callable[[], Child]
    ) -> None:
        holder = child()
        store = make_store()
        said: list[str] = []
        # The holder is told to finish from a thread, since this one is busy waiting for it;
        # joined before the fixture closes the holder's pipes under that thread's feet.
        go_on = threading.Timer(0.3, lambda: said.append(holder.go_on()))
        # Timed from before the timer starts: at least 0.3 s pass before the holder is told
        # to finish, however late this thread runs again.
        start = time.monotonic()
        go_on.start()
        try:
            with store.lock("apply", timeout=60):
                assert time.monotonic() - start >= 0.2
                assert store.stale_lock is None
                assert store.recover().runs["a"].test_run_id == 11
        finally:
            go_on.join(timeout=30)
        assert said == ["appended"]

    def test_force_unlock_ends_the_holders_session(
        self, make_store: StoreFactory, child: Callable[[], Child]
    ) -> None:
        holder = child()
        store = make_store()
        assert store.force_unlock(holder.lock_id).pid == holder.proc.pid
        with store.lock("apply", timeout=0):
            assert holder.go_on() == "StateError", "the unlocked holder must not write"
            assert store.recover().runs["a"].status == "unknown"

    def test_two_processes_serialise_their_writes(self, location: str) -> None:
        script = textwrap.dedent(
            """
            import sys
            from reconciler.records import RunAttributes
            from reconciler.state.model import TrackedRun
            from reconciler.state.postgres import PostgresStateStore
            store = PostgresStateStore(sys.argv[1])
            for i in range(8):
                with store.lock("apply", timeout=30):
                    state = store.recover()
                    attrs = RunAttributes(workspace_id=1, target_id=i, probe_ids=(1,), name="r")
                    run = TrackedRun(testRunId=i, attributes=attrs, triggeredAt="t")
                    store.persist(state.with_runs({**state.runs, f"{sys.argv[2]}-{i}": run}))
            """
        )
        procs = [
            subprocess.Popen([sys.executable, "-c", script, location, tag], cwd=REPO_ROOT)
            for tag in ("x", "y")
        ]
        assert [p.wait(timeout=60) for p in procs] == [0, 0]
        state = PostgresStateStore(location).read()
        assert len(state.runs) == 16, "no update was lost"
        assert state.serial == 16

    # -- names, schema ---------------------------------------------------------------------

    def test_two_state_names_share_a_database_independently(self, location: str) -> None:
        base = location.rsplit("#", 1)[0]
        staging = PostgresStateStore(base + "#staging")
        prod = PostgresStateStore(base + "&state=prod")
        persisted(staging, a=tracked(attrs(target_id=1), 11))
        with staging.lock("apply"), prod.lock("apply", timeout=0):
            prod.persist(state_with(prod.recover(), b=tracked(attrs(target_id=2), 22)))
        assert set(staging.read().runs) == {"a"}
        assert set(prod.read().runs) == {"b"}
        assert staging.read().lineage != prod.read().lineage

    def test_schema_is_versioned_and_migrated_once(
        self, location: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        persisted(PostgresStateStore(location), a=tracked(attrs(target_id=1), 11))
        assert sql(location, "SELECT schema_version FROM reconciler_meta") == [(1,)]
        step = ("ALTER TABLE reconciler_states ADD COLUMN note text",)
        monkeypatch.setattr(postgres, "MIGRATIONS", (*postgres.MIGRATIONS, step))
        monkeypatch.setattr(postgres, "SCHEMA_VERSION", 2)
        assert set(PostgresStateStore(location).read().runs) == {"a"}
        assert PostgresStateStore(location).exists()  # already at 2: the step is not rerun
        assert sql(location, "SELECT schema_version FROM reconciler_meta") == [(2,)]
        monkeypatch.setattr(postgres, "SCHEMA_VERSION", 1)
        with pytest.raises(StateVersionError, match="schema has version 2"):
            PostgresStateStore(location).read()

    def test_backups_are_kept_and_pruned(
        self, store: StateStore, location: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(postgres, "KEEP_BACKUPS", 2)
        for n in range(4):
            persisted(store, **{f"k{n}": tracked(attrs(target_id=n), n)})
        rows = sql(location, "SELECT serial FROM reconciler_backups ORDER BY id")
        assert rows == [(2,), (3,)]
        assert decode_state(self.read_backup(location) or b"", "backup").serial == 3

    def test_corrupt_journal_record_is_refused(self, store: StateStore, location: str) -> None:
        with store.lock("apply"):
            store.recover()
            store.append(JournalRecord(op="trigger-intent", key="a", attributes=attrs(target_id=1)))
        sql(location, """UPDATE reconciler_journal SET record = '{"op": "explode"}'""")
        with pytest.raises(StateCorruptError) as caught:
            store.read()
        # The shared codec's wording, pointed at the row.
        assert "journal record seq=" in str(caught.value)
        assert "not a journal record: op:" in str(caught.value)
        assert "reconciler_journal" in str(caught.value)

    def test_journal_rows_hold_the_codecs_record(self, store: StateStore, location: str) -> None:
        record = JournalRecord(op="trigger-intent", key="a", attributes=attrs(target_id=1))
        with store.lock("apply"):
            store.recover()
            store.append(record)
        [(text,)] = sql(location, "SELECT record::text FROM reconciler_journal")
        assert json.loads(text) == json.loads(encode_record(record))


# --- selecting a state, secrets -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "name", "location", "conninfo"),
    [
        (
            "postgresql://reconciler@db.internal:5432/probe?sslmode=require#prod",
            "prod",
            "postgresql://reconciler@db.internal:5432/probe?sslmode=require#prod",
            "postgresql://reconciler@db.internal:5432/probe?sslmode=require",
        ),
        (
            "postgres://u:s3cr%40t@h1:5432,h2:5433/db?state=staging&sslmode=verify-full",
            "staging",
            "postgres://u@h1:5432,h2:5433/db?sslmode=verify-full#staging",
            "postgres://u:s3cr%40t@h1:5432,h2:5433/db?sslmode=verify-full",
        ),
        (
            "postgresql:///probe?host=/run/pg&password=hunter2",
            "default",
            "postgresql:///probe?host=/run/pg#default",
            "postgresql:///probe?host=/run/pg&password=hunter2",
        ),
    ],
)
def test_url_names_the_state_and_location_hides_the_password(
    url: str, name: str, location: str, conninfo: str
) -> None:
    target = parse_postgres_url(url)
    assert (target.name, target.location, target.conninfo) == (name, location, conninfo)
    for secret in ("s3cr", "hunter2"):
        assert secret not in repr(target)
    assert is_postgres_url(url)


def test_is_postgres_url_tells_files_apart() -> None:
    assert is_postgres_url("POSTGRES://h/db")
    assert not is_postgres_url("state/reconciler.state.json")
    assert not is_postgres_url("postgresql.state.json")
    assert not is_postgres_url("file://state.json")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://h/db?state=a#b", "two states"),
        ("postgresql://h/db#bad name", "invalid state name"),
        ("mysql://h/db", "postgresql://"),
    ],
)
def test_bad_state_urls_are_usage_errors(url: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_postgres_url(url)


def test_missing_psycopg_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # makes `import psycopg` fail
    # The path the CLI takes, with the backend module not imported yet.
    monkeypatch.delitem(sys.modules, "reconciler.state.postgres")
    with pytest.raises(StateError, match=r"pip install 'splx-reconciler\[postgres\]'"):
        open_store("postgresql://h/db#prod")


MALFORMED_URLS = [
    ("postgresql://u:Wr0ng%ZZ@127.0.0.1:1/db#prod", "Wr0ng", "invalid percent-encoded token"),
    ("postgresql://u:s3cret@127.0.0.1:1/db?foo=bar#prod", "s3cret", "foo"),
    ("postgresql://u@127.0.0.1:1/db?password=s3%25cret&foo=bar#prod", "s3", "foo"),
]


@pytest.mark.parametrize(("url", "password", "reason"), MALFORMED_URLS)
def test_malformed_url_is_refused_when_the_store_is_made(
    psycopg_module: ModuleType, url: str, password: str, reason: str
) -> None:
    with pytest.raises(UsageError) as caught:
        PostgresStateStore(url)
    message = str(caught.value)
    assert "--state: malformed PostgreSQL URL postgresql://u@127.0.0.1:1/db" in message
    assert reason in message
    assert password not in message


@pytest.mark.parametrize(("url", "password", "reason"), MALFORMED_URLS)
def test_malformed_url_through_the_cli_is_a_usage_error_without_the_password(
    psycopg_module: ModuleType,
    capsys: pytest.CaptureFixture[str],
    url: str,
    password: str,
    reason: str,
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["state", "list", "--state", url])
    out, err = capsys.readouterr()
    assert exited.value.code == UsageError.exit_code
    assert "malformed PostgreSQL URL" in err
    assert reason in err
    assert "Internal error" not in out + err
    assert password not in out + err


def test_connection_failure_names_the_location_not_the_password(
    monkeypatch: pytest.MonkeyPatch, psycopg_module: ModuleType
) -> None:
    monkeypatch.setenv("PGPASSWORD", "env-secret-value")
    store = PostgresStateStore("postgresql://alice:url-secret@127.0.0.1:1/db?connect_timeout=2#p")
    with pytest.raises(StateError) as caught:
        store.read()
    message = str(caught.value)
    assert "postgresql://alice@127.0.0.1:1/db?connect_timeout=2#p" in message
    assert "cannot connect" in message
    assert "url-secret" not in message
    assert "env-secret-value" not in message


def test_wrong_password_is_not_echoed(pg_dsn: str) -> None:
    parts = urlsplit(pg_dsn)
    user = parts.username or "reconciler_test"
    url = urlunsplit(
        parts._replace(netloc=f"{user}:wrong-pw-xyz@{parts.netloc.rpartition('@')[2]}")
    )
    try:
        PostgresStateStore(url).read()
    except StateError as err:
        assert "password authentication failed" in str(err)
        assert "wrong-pw-xyz" not in str(err)
        assert f"{user}@" in str(err)
    else:
        pytest.skip("this server does not check passwords")


def test_scrub_removes_secrets_from_library_messages() -> None:
    target = parse_postgres_url("postgresql://u:p%40ss@h/db#x")
    assert target.scrub("failed for p@ss and p%40ss\n  again") == "failed for *** and *** again"


# --- copying a state ------------------------------------------------------------------------------


class TestCopyState:
    """``copy_state`` between two PostgreSQL states, and between a file and PostgreSQL."""

    @pytest.fixture
    def pair(self, pg_location: str) -> tuple[PostgresStateStore, PostgresStateStore]:
        base = pg_location.rsplit("#", 1)[0]
        return PostgresStateStore(base + "#src"), PostgresStateStore(base + "#dst")

    def test_copy_keeps_lineage_and_serial_and_leaves_the_source(
        self, pair: tuple[PostgresStateStore, PostgresStateStore]
    ) -> None:
        src, dst = pair
        persisted(src, a=tracked(attrs(target_id=1), 11))
        original = persisted(src, b=tracked(attrs(target_id=2), 22))
        copied = copy_state(src, dst)
        assert copied == original
        assert dst.read() == original
        assert src.read() == original
        # Copying again after the source moved on updates the copy.
        newer = persisted(src, c=tracked(attrs(target_id=3), 33))
        assert copy_state(src, dst) == newer

    def test_copy_refuses_a_newer_or_diverged_destination(
        self, pair: tuple[PostgresStateStore, PostgresStateStore]
    ) -> None:
        src, dst = pair
        persisted(src, a=tracked(attrs(target_id=1), 11))
        copy_state(src, dst)
        ahead = persisted(dst, b=tracked(attrs(target_id=2), 22))
        with pytest.raises(StateError, match="newer"):
            copy_state(src, dst)
        persisted(src, c=tracked(attrs(target_id=3), 33))  # now both at serial 2, different runs
        with pytest.raises(StateError, match="diverged"):
            copy_state(src, dst)
        assert dst.read() == ahead
        with pytest.raises(UsageError, match="same state"):
            copy_state(src, PostgresStateStore(src.location))

    def test_copy_includes_a_leftover_journal(
        self, pair: tuple[PostgresStateStore, PostgresStateStore]
    ) -> None:
        src, dst = pair
        persisted(src, a=tracked(attrs(target_id=1), 11))
        with src.lock("apply"):
            src.recover()
            src.append(JournalRecord(op="trigger-intent", key="b", attributes=attrs(target_id=2)))
        assert copy_state(src, dst).runs["b"].status == "unknown"
        assert src.journal() != [], "the source is only read"

    def test_file_to_postgres_and_back_keeps_lineage_and_serial(
        self, pair: tuple[PostgresStateStore, PostgresStateStore], tmp_path: Path
    ) -> None:
        pg, _ = pair
        file_store = LocalStateStore(tmp_path / "state.json")
        persisted(file_store, a=tracked(attrs(target_id=1), 11))
        original = persisted(file_store, b=tracked(attrs(target_id=2), 22))
        assert (original.serial, copy_state(file_store, pg)) == (2, original)
        assert pg.read() == original
        newer = persisted(
            pg, c=tracked(attrs(target_id=3), 33)
        )  # the state lives on in PostgreSQL...
        back = LocalStateStore(tmp_path / "back.json")
        assert copy_state(pg, back) == newer  # ...and comes back to a file, same lineage
        assert (back.read().lineage, back.read().serial) == (original.lineage, 3)
        assert copy_state(pg, file_store) == newer, "an older copy of the same state is updated"

    def test_copy_refuses_another_lineage_either_way(
        self, pair: tuple[PostgresStateStore, PostgresStateStore], tmp_path: Path
    ) -> None:
        pg, _ = pair
        file_store = LocalStateStore(tmp_path / "state.json")
        with pytest.raises(StateError, match="no state to copy"):
            copy_state(file_store, pg)
        persisted(file_store, a=tracked(attrs(target_id=1), 11))
        theirs = persisted(pg, z=tracked(attrs(target_id=9), 99))
        file_bytes = (tmp_path / "state.json").read_bytes()
        with pytest.raises(LineageError, match="another state"):
            copy_state(file_store, pg)
        assert pg.read() == theirs
        with pytest.raises(LineageError, match="another state"):
            copy_state(pg, file_store)
        assert (tmp_path / "state.json").read_bytes() == file_bytes
