"""The PostgreSQL state backend: one database shared by many machines and CI runners.

Selected by a ``postgresql://`` (or ``postgres://``) URL in ``--state`` / ``RECONCILER_STATE``.
The URL is libpq's, plus the name of the state, so that several independent states share one
database::

    postgresql://reconciler@db.internal:5432/probe?sslmode=require#prod
    postgresql://reconciler@db.internal:5432/probe?sslmode=require&state=prod

The fragment and the ``state`` query parameter are ours and are stripped before libpq sees the
URL; without either the name is ``default``. Credentials come from the URL or from libpq's own
environment (``PGPASSWORD``, ``PGPASSFILE``, ``PGSERVICEFILE``...) and never appear in
``location`` or in any error.

Layout (created on first use, one migration step per format change, see ``MIGRATIONS``):

- ``reconciler_meta``: the schema version;
- ``reconciler_states``: one row per state name, body in the state codec's JSON, plus the
  previous body as a backup;
- ``reconciler_journal``: the journal, one row per record, each inserted in its own
  transaction (durable on commit, O(1));
- ``reconciler_locks``: who holds each state's lock, for messages and ``force-unlock``.

The lock itself is a session-level advisory lock on one connection held for the whole
``with store.lock(...)`` block: when the holder dies, its connection closes and the server
releases the lock; nothing can be left locked by a killed process. Every write made under the
lock goes through that same connection, so a process that lost its session (force-unlocked,
network cut) cannot write anything afterwards. Writes also check that the lock row still
carries their lock id (a fence against a holder that was force-unlocked but kept a session).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlencode, urlsplit

from reconciler.errors import (
    LockError,
    StateCorruptError,
    StateError,
    StateVersionError,
    UsageError,
)
from reconciler.locations import is_postgres_url
from reconciler.redact import Redactor
from reconciler.state import common
from reconciler.state.codec import decode_record, decode_state, encode_record, encode_state
from reconciler.state.common import Site, fold_journal, lock_info_now, successor
from reconciler.state.model import JournalRecord, State
from reconciler.state.store import LockInfo

if TYPE_CHECKING:
    from psycopg import Connection

__all__ = [
    "DEFAULT_STATE_NAME",
    "KEEP_BACKUPS",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "PostgresStateStore",
    "PostgresTarget",
    "parse_postgres_url",
]

DEFAULT_STATE_NAME = "default"
_STATE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
#: Defaults we give libpq unless the URL (or its environment) says otherwise.
_CONNECT_TIMEOUT_S = 10
#: Backups kept per state name in ``reconciler_backups`` (the newest ones).
KEEP_BACKUPS = 10
#: How long force-unlock waits for a terminated holder's session to go away.
_TERMINATE_WAIT_S = 5.0

#: Ordered schema steps: step ``i`` brings the schema from version ``i`` to ``i + 1``. Append a
#: step for each format change; never edit a released one. Applied under an advisory lock, all
#: pending steps in one transaction (DDL is transactional in PostgreSQL).
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        # The body is the codec's bytes, stored exactly (bytea, not jsonb): what was written is
        # what is read back, and a hand-broken body can be kept untouched for inspection.
        # lineage, serial and version mirror the body for SQL queries; NULL when written by hand.
        """
        CREATE TABLE reconciler_states (
            name text PRIMARY KEY,
            lineage text,
            serial bigint,
            version integer,
            body bytea NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now()
        )
        """,
        """
        CREATE TABLE reconciler_backups (
            id bigserial PRIMARY KEY,
            name text NOT NULL,
            serial bigint,
            body bytea NOT NULL,
            replaced_at timestamptz NOT NULL DEFAULT now()
        )
        """,
        "CREATE INDEX reconciler_backups_name_id ON reconciler_backups (name, id)",
        # Each record carries the state it amends (lineage, serial), like the local journal's
        # header, and the lock it was written under, which tells a leftover journal apart.
        """
        CREATE TABLE reconciler_journal (
            seq bigserial PRIMARY KEY,
            name text NOT NULL,
            lineage text NOT NULL,
            base_serial bigint NOT NULL,
            lock_id text NOT NULL,
            record jsonb NOT NULL,
            written_at timestamptz NOT NULL DEFAULT now()
        )
        """,
        "CREATE INDEX reconciler_journal_name_seq ON reconciler_journal (name, seq)",
        """
        CREATE TABLE reconciler_locks (
            name text PRIMARY KEY,
            id text NOT NULL,
            operation text NOT NULL,
            username text NOT NULL,
            host text NOT NULL,
            pid integer NOT NULL,
            since text NOT NULL
        )
        """,
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)

_HOLDER = "SELECT id, operation, username, host, pid, since FROM reconciler_locks WHERE name = %s"
_HOLDER_FOR_UPDATE = _HOLDER + " FOR UPDATE"


# --- selecting a state ---------------------------------------------------------------------


@dataclass(frozen=True)
class PostgresTarget:
    """A parsed ``--state`` URL: what libpq connects to and which state in that database."""

    #: The URL handed to libpq: our ``state`` parameter and fragment removed. May hold a
    #: password: never print it.
    conninfo: str
    #: The state's name within the database.
    name: str
    #: The URL for messages: no password, with ``#name``.
    location: str
    #: Secrets to scrub from any text we show (the URL's password, ``PGPASSWORD``).
    secrets: tuple[str, ...]

    def __repr__(self) -> str:  # the dataclass default would print conninfo
        return f"PostgresTarget(location={self.location!r})"

    def scrub(self, text: str) -> str:
        """``text`` with every known secret replaced, whitespace collapsed to one line."""
        # Any length: a short password is still a password.
        return " ".join(Redactor(self.secrets, shortest=1)(text).split())


def parse_postgres_url(url: str) -> PostgresTarget:
    """Split a ``--state`` URL into libpq's URL, the state name and a password-free location.

    The state name is the fragment (``#prod``) or the ``state`` query parameter (``?state=prod``);
    both at once must agree. Raises ``UsageError`` for a malformed URL or name.
    """
    try:
        parts = urlsplit(url)
    except ValueError as err:
        raise UsageError(f"--state: not a valid PostgreSQL URL: {err}") from None
    if not is_postgres_url(url):
        raise UsageError("--state: a PostgreSQL state URL starts with postgresql://")

    query = parse_qsl(parts.query, keep_blank_values=True)
    names = {unquote(parts.fragment)} if parts.fragment else set()
    names.update(value for key, value in query if key == "state")
    if len(names) > 1:
        raise UsageError(
            f"--state: the URL names two states ({', '.join(sorted(names))}); "
            "give the state name once, as #name or ?state=name"
        )
    name = names.pop() if names else DEFAULT_STATE_NAME
    if not _STATE_NAME.fullmatch(name):
        raise UsageError(
            f"--state: invalid state name {name!r}: use 1-63 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )

    libpq_query = [(k, v) for k, v in query if k != "state"]
    userinfo, at, hosts = parts.netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    conninfo = _join_url(parts.scheme, parts.netloc, parts.path, libpq_query, "")
    public_query = [(k, v) for k, v in libpq_query if k != "password"]
    location = _join_url(parts.scheme, f"{user}{at}{hosts}", parts.path, public_query, name)
    # Every spelling a library message may quote: as written, decoded, and re-encoded.
    secrets = [password, unquote(password), quote(unquote(password), safe="")] if colon else []
    for key, value in libpq_query:
        if key == "password":
            secrets += [value, quote(value, safe=""), quote_plus(value)]
    for raw in parts.query.split("&"):
        key, _eq, value = raw.partition("=")
        if unquote(key) == "password":
            secrets.append(value)
    secrets.append(os.environ.get("PGPASSWORD", ""))
    # Longest first, so a secret that contains another is scrubbed whole.
    kept = sorted({s for s in secrets if s}, key=len, reverse=True)
    return PostgresTarget(conninfo=conninfo, name=name, location=location, secrets=tuple(kept))


def _join_url(
    scheme: str, netloc: str, path: str, query: list[tuple[str, str]], fragment: str
) -> str:
    # Not urlunsplit: it drops the "//" of an empty host (postgresql:///db, a Unix socket).
    text = f"{scheme}://{netloc}{path}"
    if query:
        text += "?" + urlencode(query, safe="/:,")
    return f"{text}#{fragment}" if fragment else text


def _import_psycopg() -> ModuleType:
    try:
        import psycopg
    except ImportError:
        raise StateError(
            "the PostgreSQL backend needs psycopg: pip install 'splx-reconciler[postgres]'"
        ) from None
    return psycopg


def _advisory_key(kind: str, schema: str, name: str) -> int:
    """A signed 64-bit advisory-lock key, distinct per schema and state name."""
    digest = hashlib.sha256(f"reconciler\0{kind}\0{schema}\0{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


_JOURNAL_ROW_HINT = (
    "; the journal was edited or damaged, so it cannot be trusted and nothing was changed: "
    "inspect that row of table reconciler_journal, then fix or delete it (see docs/POSTGRES.md)"
)

_BACKUP_HINT = (
    "a PostgreSQL state keeps its previous bodies in reconciler_backups: see 'Restoring a "
    "backup' in docs/POSTGRES.md"
)


@dataclass(frozen=True)
class _Snapshot:
    """What one read-only transaction saw: the body and the journal of one state."""

    stored: State | None
    #: (lineage, serial) the journal amends; None without a journal.
    head: tuple[str, int] | None
    records: list[JournalRecord]


# --- the store ---------------------------------------------------------------------------------


class PostgresStateStore:
    """A state kept in PostgreSQL, under a name, next to other states in the same database.

    Unlocked reads open a short-lived connection each. ``lock()`` opens one session for the
    whole block, and everything done under the lock goes through it (see the module
    docstring). One object serves one command; operations on it are serialised, so it is safe
    to ``append`` from many threads.
    """

    def __init__(self, url: str) -> None:
        self._target = parse_postgres_url(url)
        self._pg = _import_psycopg()
        #: libpq's reading of the URL, checked now so a malformed one fails before any work.
        self._given = self._parse_conninfo()
        self.location: str = self._target.location
        self.name: str = self._target.name
        self.stale_lock: LockInfo | None = None
        #: Things worth telling the user that are not errors; none are produced here yet,
        #: the attribute is part of the ``StateStore`` protocol.
        self.notes: list[str] = []
        self._session: Connection[Any] | None = None
        self._held: LockInfo | None = None
        #: The (lineage, serial) journal records name; set by recover() and persist().
        self._base: tuple[str, int] | None = None
        self._schema: str | None = None
        self._mutex = threading.RLock()

    def __repr__(self) -> str:
        return f"PostgresStateStore({self.location!r})"

    # -- connections ----------------------------------------------------------------------

    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Wrap psycopg errors into a StateError naming the state, never the password."""
        try:
            yield
        except self._pg.Error as err:
            reason = self._target.scrub(str(err)) or type(err).__name__
            raise StateError(f"PostgreSQL state {self.location}: {action}: {reason}") from None

    def _parse_conninfo(self) -> dict[str, Any]:
        """libpq's parameters from the URL; ``UsageError`` (without the password) if malformed."""
        try:
            return dict(self._pg.conninfo.conninfo_to_dict(self._target.conninfo))
        except (self._pg.Error, ValueError) as err:
            reason = self._target.scrub(str(err)) or type(err).__name__
            raise UsageError(
                f"--state: malformed PostgreSQL URL {self._target.location}: {reason}; fix it: "
                "only libpq's parameters may follow '?', and special characters in the user or "
                "password are percent-encoded ('%' as %25); see docs/POSTGRES.md"
            ) from None

    def _open(self) -> Connection[Any]:
        """A new autocommit session with the schema in place."""
        given = self._given
        defaults: dict[str, Any] = {
            "connect_timeout": _CONNECT_TIMEOUT_S,
            "application_name": "reconciler",
        }
        extra = {k: v for k, v in defaults.items() if k not in given}
        with self._errors("cannot connect"):
            conn: Connection[Any] = self._pg.connect(
                self._target.conninfo, autocommit=True, **extra
            )
        try:
            with self._errors("cannot prepare the database"):
                # A journal record is only as durable as its commit: override a server or role
                # default of synchronous_commit=off for our own sessions.
                conn.execute("SET synchronous_commit TO on")
                self._ensure_schema(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Connection[Any]]:
        """The locked session when we hold the lock, else a connection for this call only."""
        with self._mutex:
            if self._session is not None:
                yield self._session
                return
            conn = self._open()
            try:
                yield conn
            finally:
                conn.close()

    def _ensure_schema(self, conn: Connection[Any]) -> None:
        """Create or migrate the tables: a read-only check unless something is pending."""
        if self._schema_version(conn) != SCHEMA_VERSION:
            with conn.transaction():
                row = conn.execute("SELECT current_schema()").fetchone()
                key = _advisory_key("migrate", str(row[0] if row else ""), "")
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS reconciler_meta ("
                    " singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),"
                    " schema_version integer NOT NULL)"
                )
                conn.execute(
                    "INSERT INTO reconciler_meta (schema_version) VALUES (0) ON CONFLICT DO NOTHING"
                )
                # Read again under the lock: another process may have migrated meanwhile.
                current = self._schema_version(conn)
                for step in MIGRATIONS[current:]:
                    for statement in step:
                        conn.execute(statement)
                conn.execute("UPDATE reconciler_meta SET schema_version = %s", (SCHEMA_VERSION,))
        if self._schema is None:
            row = conn.execute(
                "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE c.oid = to_regclass('reconciler_states')"
            ).fetchone()
            self._schema = str(row[0]) if row else ""

    def _schema_version(self, conn: Connection[Any]) -> int:
        exists = conn.execute("SELECT to_regclass('reconciler_meta') IS NOT NULL").fetchone()
        if not exists or not exists[0]:
            return 0
        row = conn.execute("SELECT max(schema_version) FROM reconciler_meta").fetchone()
        current = int(row[0]) if row and row[0] is not None else 0
        if current > SCHEMA_VERSION:
            raise StateVersionError(
                f"PostgreSQL state {self.location}: the database schema has version {current}, "
                f"made by a newer reconciler (this one knows up to {SCHEMA_VERSION}); "
                "upgrade reconciler"
            )
        return current

    def _lock_key(self) -> int:
        return _advisory_key("state", self._schema or "", self.name)

    # -- reading --------------------------------------------------------------------------

    def exists(self) -> bool:
        with self._connection() as conn, self._errors("cannot read the state"):
            row = conn.execute(
                "SELECT 1 FROM reconciler_states WHERE name = %s", (self.name,)
            ).fetchone()
        return row is not None

    def read(self) -> State:
        with self._connection() as conn:
            return self._combine(self._load(conn))

    def journal(self) -> list[JournalRecord]:
        with self._connection() as conn:
            return self._load(conn).records

    def _load(self, conn: Connection[Any]) -> _Snapshot:
        """The stored state and its journal, from one snapshot."""
        with self._errors("cannot read the state"), conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            row = conn.execute(
                "SELECT body FROM reconciler_states WHERE name = %s", (self.name,)
            ).fetchone()
            rows = conn.execute(
                "SELECT seq, lineage, base_serial, record::text FROM reconciler_journal"
                " WHERE name = %s ORDER BY seq",
                (self.name,),
            ).fetchall()
        body = bytes(row[0]) if row else None
        stored = self._decode(body) if body is not None else None
        heads = {(lineage, int(serial)) for _seq, lineage, serial, _text in rows}
        if len(heads) > 1:
            raise StateCorruptError(
                f"{self._where}: the journal mixes records of {len(heads)} different states; "
                "it was edited by hand, so it cannot be trusted: inspect reconciler_journal"
            )
        records = [self._decode_record(seq, text) for seq, _l, _s, text in rows]
        return _Snapshot(stored=stored, head=heads.pop() if heads else None, records=records)

    @property
    def _where(self) -> str:
        return f"PostgreSQL state {self.location}"

    def _decode(self, body: bytes) -> State:
        """The shared codec, with where this backend keeps its backups added to a refusal."""
        try:
            return decode_state(body, self._where)
        except StateCorruptError as err:
            raise StateCorruptError(f"{err}; {_BACKUP_HINT}") from None

    def _decode_record(self, seq: int, text: str) -> JournalRecord:
        """The shared codec, pointed at the table row to inspect."""
        return decode_record(
            text.encode(), f"{self._where}, journal record seq={seq}", _JOURNAL_ROW_HINT
        )

    def _combine(self, snap: _Snapshot) -> State:
        """The stored state with the journal folded in, after checking they belong together."""
        site = Site(
            state=self._where,
            journal=f"the journal of {self._where}",
            restore="restore the state row from reconciler_backups (see docs/POSTGRES.md)",
            set_aside="delete its rows from reconciler_journal",
        )
        return fold_journal(snap.stored, snap.head, snap.records, site)

    def lock_holder(self) -> LockInfo | None:
        with self._connection() as conn, self._errors("cannot read the lock"):
            return self._holder(conn)

    def _holder(self, conn: Connection[Any], *, for_update: bool = False) -> LockInfo | None:
        query = _HOLDER_FOR_UPDATE if for_update else _HOLDER
        row = conn.execute(query, (self.name,)).fetchone()
        if row is None:
            return None
        lock_id, operation, user, host, pid, since = row
        return LockInfo(id=lock_id, operation=operation, user=user, host=host, pid=pid, since=since)

    # -- writing --------------------------------------------------------------------------

    def _require_lock(self, action: str) -> LockInfo:
        if self._held is None:
            raise common.LockNeededError(self._where, action)
        return self._held

    def append(self, record: JournalRecord) -> None:
        held = self._require_lock("append to the journal")
        with self._connection() as conn, self._errors("cannot write the journal"):
            if self._base is None:
                # No recover() ran: name the state as it is stored (or a new one).
                current = self._load(conn)
                if current.records:
                    raise common.unrecovered_journal(f"the journal of {self._where}", "appending")
                state = current.stored or State.new()
                self._base = (state.lineage, state.serial)
            lineage, serial = self._base
            # One autocommit statement: durable when it returns, and only while our lock row
            # stands (FOR SHARE holds off a concurrent force-unlock until it commits).
            cur = conn.execute(
                "INSERT INTO reconciler_journal (name, lineage, base_serial, lock_id, record)"
                " SELECT %s, %s, %s, %s, %s::jsonb WHERE EXISTS ("
                "  SELECT 1 FROM reconciler_locks WHERE name = %s AND id = %s FOR SHARE)",
                (
                    self.name,
                    lineage,
                    serial,
                    held.id,
                    encode_record(record).decode(),
                    self.name,
                    held.id,
                ),
            )
            if cur.rowcount != 1:
                raise self._lost_lock(held)

    def recover(self) -> State:
        self._require_lock("recover the state")
        with self._connection() as conn:
            snap = self._load(conn)
            if not snap.records:
                state = snap.stored if snap.stored is not None else State.new()
                self._base = (state.lineage, state.serial)
                return state
            return self._write(conn, self._combine(snap), recovering=True)

    def persist(self, state: State) -> None:
        self._require_lock("write the state")
        with self._connection() as conn:
            self._write(conn, state, recovering=False)

    def _write(self, conn: Connection[Any], state: State, *, recovering: bool) -> State:
        """One transaction: fence, refuse what must not be overwritten, write, clear journal."""
        held = self._require_lock("write the state")
        with self._errors("cannot write the state"), conn.transaction():
            fence = conn.execute(
                "SELECT 1 FROM reconciler_locks WHERE name = %s AND id = %s FOR SHARE",
                (self.name, held.id),
            ).fetchone()
            if fence is None:
                raise self._lost_lock(held)
            if not recovering:
                leftover = conn.execute(
                    "SELECT 1 FROM reconciler_journal WHERE name = %s AND lock_id <> %s LIMIT 1",
                    (self.name, held.id),
                ).fetchone()
                if leftover:
                    raise common.unrecovered_journal(
                        f"the journal of {self._where}", "writing the state"
                    )
            row = conn.execute(
                "SELECT body FROM reconciler_states WHERE name = %s FOR UPDATE", (self.name,)
            ).fetchone()
            stored_body = bytes(row[0]) if row else None
            stored = self._decode(stored_body) if stored_body is not None else None
            state = successor(stored, state, self._where)
            body = encode_state(state)
            if body != stored_body:
                self._replace_body(conn, state, body, backup=stored_body is not None)
            conn.execute("DELETE FROM reconciler_journal WHERE name = %s", (self.name,))
        self._base = (state.lineage, state.serial)
        return state

    def _replace_body(
        self, conn: Connection[Any], state: State, body: bytes, *, backup: bool
    ) -> None:
        if backup:
            conn.execute(
                "INSERT INTO reconciler_backups (name, serial, body)"
                " SELECT name, serial, body FROM reconciler_states WHERE name = %s",
                (self.name,),
            )
            conn.execute(
                "DELETE FROM reconciler_backups WHERE name = %s AND id NOT IN ("
                " SELECT id FROM reconciler_backups WHERE name = %s ORDER BY id DESC LIMIT %s)",
                (self.name, self.name, KEEP_BACKUPS),
            )
        conn.execute(
            "INSERT INTO reconciler_states (name, lineage, serial, version, body)"
            " VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (name) DO UPDATE SET lineage = excluded.lineage,"
            "  serial = excluded.serial, version = excluded.version, body = excluded.body,"
            "  updated_at = now()",
            (self.name, state.lineage, state.serial, state.version, body),
        )

    def _lost_lock(self, held: LockInfo) -> LockError:
        return common.LockLostError(self._where, held, "write anything more")

    # -- locking --------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, operation: str, timeout: float = 0.0) -> Iterator[LockInfo]:
        if self._held is not None:
            raise common.AlreadyLockedError(self._where, self._held)
        self.stale_lock = None
        conn = self._open()
        try:
            key = self._lock_key()
            info = lock_info_now(operation)
            with self._errors("cannot take the lock"):
                self._acquire(conn, key, timeout)
                with conn.transaction():
                    # A row left behind means its holder's session ended without releasing:
                    # the process died (or was force-unlocked). Take over and say so.
                    self.stale_lock = self._holder(conn, for_update=True)
                    conn.execute(
                        "INSERT INTO reconciler_locks"
                        " (name, id, operation, username, host, pid, since)"
                        " VALUES (%s, %s, %s, %s, %s, %s, %s)"
                        " ON CONFLICT (name) DO UPDATE SET id = excluded.id,"
                        "  operation = excluded.operation, username = excluded.username,"
                        "  host = excluded.host, pid = excluded.pid, since = excluded.since",
                        (self.name, info.id, operation, info.user, info.host, info.pid, info.since),
                    )
            with self._mutex:
                self._session, self._held, self._base = conn, info, None
            try:
                yield info
            finally:
                with self._mutex:
                    self._session, self._held, self._base = None, None, None
                self._release(conn, key, info)
        finally:
            conn.close()

    def _acquire(self, conn: Connection[Any], key: int, timeout: float) -> None:
        """Take the advisory lock, waiting on the server up to ``timeout`` seconds."""
        if timeout <= 0:
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            if row and row[0]:
                return
            raise self._locked_error(conn, key, timeout)
        # The server wakes us the moment the holder lets go; lock_timeout bounds the wait.
        conn.execute(
            "SELECT set_config('lock_timeout', %s, false)", (f"{max(1, round(timeout * 1000))}ms",)
        )
        try:
            conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        except self._pg.errors.LockNotAvailable:
            raise self._locked_error(conn, key, timeout) from None
        finally:
            conn.execute("RESET lock_timeout")

    def _locked_error(self, conn: Connection[Any], key: int, timeout: float) -> LockError:
        holder = self._holder(conn)
        if holder is None:
            pids = ", ".join(map(str, self._holder_backends(conn, key))) or "?"
            who = f"a session (backend pid {pids}) that has not written its lock record yet"
            return common.LockHeldError(self._where, who, timeout, "or retry in a moment")
        return common.LockHeldError(
            self._where,
            holder.describe(),
            timeout,
            f"if it is hung, {common.force_unlock_command(holder.id, self.location)} ends its "
            "database session",
        )

    def _holder_backends(self, conn: Connection[Any], key: int) -> list[int]:
        """Backend pids holding the advisory lock ``key`` in this database."""
        unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
        rows = conn.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND classid = %s::bigint::oid AND objid = %s::bigint::oid AND objsubid = 1",
            (unsigned >> 32, unsigned & 0xFFFF_FFFF),
        ).fetchall()
        return [int(r[0]) for r in rows]

    def _release(self, conn: Connection[Any], key: int, info: LockInfo) -> None:
        # Row first, then the advisory lock: a row without a lock means "holder died".
        # A dead session (force-unlocked, network gone) was released by the server already.
        with contextlib.suppress(self._pg.Error):
            conn.execute(
                "DELETE FROM reconciler_locks WHERE name = %s AND id = %s", (self.name, info.id)
            )
            conn.execute("SELECT pg_advisory_unlock(%s)", (key,))

    def force_unlock(self, lock_id: str) -> LockInfo:
        """Remove lock ``lock_id``, ending the holder's session if it is still connected.

        Ending the session is what makes it safe: the advisory lock goes with it, and a
        holder that was only hung finds its connection gone and cannot write anything more.
        """
        with self._connection() as conn, self._errors("cannot force-unlock"):
            holder = self._holder(conn)
            if holder is None:
                raise common.NotLockedError(self._where)
            if holder.id != lock_id:
                raise common.WrongLockIdError(self._where, self.location, lock_id, holder)
            self._terminate_holders(conn, self._lock_key())
            conn.execute(
                "DELETE FROM reconciler_locks WHERE name = %s AND id = %s", (self.name, lock_id)
            )
        return holder

    def _terminate_holders(self, conn: Connection[Any], key: int) -> None:
        own = conn.execute("SELECT pg_backend_pid()").fetchone()
        pids = [p for p in self._holder_backends(conn, key) if not own or p != own[0]]
        for pid in pids:
            try:
                conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
            except self._pg.errors.InsufficientPrivilege:
                raise LockError(
                    f"{self._where}: the lock holder's session (backend pid {pid}) is still "
                    "connected and this role may not end it; ask a database administrator to "
                    f"run SELECT pg_terminate_backend({pid}), then retry"
                ) from None
        # Wait for the sessions to be gone, so that the next lock() succeeds at once.
        deadline = time.monotonic() + _TERMINATE_WAIT_S
        while pids and time.monotonic() < deadline:
            time.sleep(0.02)
            pids = [p for p in self._holder_backends(conn, key) if not own or p != own[0]]
