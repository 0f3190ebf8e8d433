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
import getpass
import hashlib
import json
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from pydantic import ValidationError

from reconciler.errors import (
    LineageError,
    LockError,
    StateCorruptError,
    StateError,
    StateVersionError,
    UsageError,
)
from reconciler.state.model import STATE_VERSION, JournalRecord, State, fold, utc_now
from reconciler.state.store import LockInfo

if TYPE_CHECKING:
    from psycopg import Connection

__all__ = [
    "DEFAULT_STATE_NAME",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "PostgresStateStore",
    "PostgresTarget",
    "is_postgres_url",
    "parse_postgres_url",
]

DEFAULT_STATE_NAME = "default"
_SCHEMES = ("postgresql", "postgres")
_STATE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
#: Defaults we give libpq unless the URL (or its environment) says otherwise.
_CONNECT_TIMEOUT_S = 10
#: How long force-unlock waits for a terminated holder's session to go away.
_TERMINATE_WAIT_S = 5.0

#: Ordered schema steps: step ``i`` brings the schema from version ``i`` to ``i + 1``. Append a
#: step for each format change; never edit a released one. Applied under an advisory lock, all
#: pending steps in one transaction (DDL is transactional in PostgreSQL).
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE reconciler_states (
            name text PRIMARY KEY,
            lineage text NOT NULL,
            serial bigint NOT NULL,
            version integer NOT NULL,
            body jsonb NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now(),
            previous_serial bigint,
            previous_body jsonb
        )
        """,
        """
        CREATE TABLE reconciler_journal (
            seq bigserial PRIMARY KEY,
            name text NOT NULL,
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


def is_postgres_url(value: str) -> bool:
    """True when ``--state`` names a PostgreSQL state rather than a file."""
    return value.split("://", 1)[0].lower() in _SCHEMES and "://" in value


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
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return " ".join(text.split())


def parse_postgres_url(url: str) -> PostgresTarget:
    """Split a ``--state`` URL into libpq's URL, the state name and a password-free location.

    The state name is the fragment (``#prod``) or the ``state`` query parameter (``?state=prod``);
    both at once must agree. Raises ``UsageError`` for a malformed URL or name.
    """
    try:
        parts = urlsplit(url)
    except ValueError as err:
        raise UsageError(f"--state: not a valid PostgreSQL URL: {err}") from None
    if parts.scheme.lower() not in _SCHEMES:
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
    conninfo = urlunsplit(
        (parts.scheme, parts.netloc, parts.path, urlencode(libpq_query, safe="/:,"), "")
    )
    public_query = [(k, v) for k, v in libpq_query if k != "password"]
    location = urlunsplit(
        (
            parts.scheme,
            f"{user}{at}{hosts}",
            parts.path,
            urlencode(public_query, safe="/:,"),
            name,
        )
    )
    secrets = [password, unquote(password) if colon else ""]
    secrets += [v for k, v in libpq_query if k == "password"]
    secrets.append(os.environ.get("PGPASSWORD", ""))
    # Longest first, so a secret that contains another is scrubbed whole.
    kept = sorted({s for s in secrets if s}, key=len, reverse=True)
    return PostgresTarget(conninfo=conninfo, name=name, location=location, secrets=tuple(kept))


def _import_psycopg() -> ModuleType:
    try:
        import psycopg  # noqa: PLC0415 - an optional dependency, imported only when chosen
    except ImportError:
        raise StateError(
            "the PostgreSQL backend needs psycopg: pip install 'reconciler[postgres]'"
        ) from None
    return psycopg


def _advisory_key(kind: str, schema: str, name: str) -> int:
    """A signed 64-bit advisory-lock key, distinct per schema and state name."""
    digest = hashlib.sha256(f"reconciler\0{kind}\0{schema}\0{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _this_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # a container user without a passwd entry
        return "unknown"


# --- state body --------------------------------------------------------------------------------
# TODO(state codec): switch to reconciler.state.codec.encode_state/decode_state once the state
# branch lands, so both backends share version upgrades. Until then: the model's own JSON, and
# the two refusals the codec will make (newer version, does not decode).


def _encode_state(state: State) -> str:
    return state.model_dump_json(by_alias=True)


def _decode_state(text: str, where: str) -> State:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise StateCorruptError(
            f"{where} is not valid JSON ({err}); it was left untouched"
        ) from None
    version = data.get("version") if isinstance(data, dict) else None
    if isinstance(version, int) and version > STATE_VERSION:
        raise StateVersionError(
            f"{where} has format version {version}, written by a newer reconciler (this one "
            f"reads up to {STATE_VERSION}); upgrade reconciler to use it"
        )
    try:
        return State.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(document)"
        raise StateCorruptError(
            f"{where} does not decode as a state ({field}: {first['msg']}); it was left "
            "untouched: restore it from previous_body in reconciler_states, or fix it by hand"
        ) from None


# --- the store ---------------------------------------------------------------------------------


class PostgresStateStore:
    """A state kept in PostgreSQL, under a name, next to other states in the same database.

    Unlocked reads open a short-lived connection each. ``lock()`` opens one session for the
    whole block; everything done under the lock goes through it (see the module docstring).
    Thread-safe: operations on one store are serialised.
    """

    def __init__(self, url: str) -> None:
        self._target = parse_postgres_url(url)
        self._pg = _import_psycopg()
        self.location: str = self._target.location
        self.name: str = self._target.name
        self.stale_lock: LockInfo | None = None
        self._session: Connection[Any] | None = None
        self._held: LockInfo | None = None
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

    def _open(self) -> Connection[Any]:
        """A new autocommit session with the schema in place."""
        given = self._pg.conninfo.conninfo_to_dict(self._target.conninfo)
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
                # A journal record is only as durable as its commit: refuse a server or role
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
        current = self._schema_version(conn)
        if current != SCHEMA_VERSION:
            with conn.transaction():
                schema = conn.execute("SELECT current_schema()").fetchone()
                key = _advisory_key("migrate", str(schema[0] if schema else ""), "")
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS reconciler_meta ("
                    " singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),"
                    " schema_version integer NOT NULL)"
                )
                conn.execute(
                    "INSERT INTO reconciler_meta (schema_version) VALUES (0) ON CONFLICT DO NOTHING"
                )
                # Re-read under the lock: another process may have migrated meanwhile.
                current = self._schema_version(conn)
                self._refuse_newer_schema(current)
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
        row = conn.execute("SELECT to_regclass('reconciler_meta') IS NOT NULL").fetchone()
        if not row or not row[0]:
            return 0
        version = conn.execute("SELECT max(schema_version) FROM reconciler_meta").fetchone()
        current = int(version[0]) if version and version[0] is not None else 0
        self._refuse_newer_schema(current)
        return current

    def _refuse_newer_schema(self, current: int) -> None:
        if current > SCHEMA_VERSION:
            raise StateVersionError(
                f"PostgreSQL state {self.location}: the database schema has version {current}, "
                f"made by a newer reconciler (this one knows up to {SCHEMA_VERSION}); "
                "upgrade reconciler"
            )

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
            state, records = self._load(conn)
        return fold(state, records) if records else state

    def journal(self) -> list[JournalRecord]:
        with self._connection() as conn:
            return self._load(conn)[1]

    def _load(self, conn: Connection[Any]) -> tuple[State, list[JournalRecord]]:
        """The stored state and its journal, from one snapshot."""
        with self._errors("cannot read the state"), conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            body = conn.execute(
                "SELECT body::text FROM reconciler_states WHERE name = %s", (self.name,)
            ).fetchone()
            rows = conn.execute(
                "SELECT seq, record::text FROM reconciler_journal WHERE name = %s ORDER BY seq",
                (self.name,),
            ).fetchall()
        state = self._decode_body(body[0]) if body else State.new()
        return state, [self._decode_record(seq, text) for seq, text in rows]

    def _decode_body(self, text: str) -> State:
        return _decode_state(text, f"PostgreSQL state {self.location}")

    def _decode_record(self, seq: int, text: str) -> JournalRecord:
        try:
            return JournalRecord.model_validate_json(text)
        except ValidationError as err:
            raise StateCorruptError(
                f"PostgreSQL state {self.location}: journal record seq={seq} does not decode "
                f"({err.errors()[0]['msg']}); nothing was changed: inspect that row of table "
                "reconciler_journal, then fix or delete it"
            ) from None

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

    def append(self, record: JournalRecord) -> None:
        with self._connection() as conn, self._errors("cannot write the journal"):
            if self._held is None:
                conn.execute(
                    "INSERT INTO reconciler_journal (name, record) VALUES (%s, %s::jsonb)",
                    (self.name, record.model_dump_json(by_alias=True)),
                )
                return
            # One autocommit statement: durable when it returns, and only while our lock row
            # stands (FOR SHARE holds off a concurrent force-unlock until it commits).
            cur = conn.execute(
                "INSERT INTO reconciler_journal (name, record) SELECT %s, %s::jsonb"
                " WHERE EXISTS (SELECT 1 FROM reconciler_locks WHERE name = %s AND id = %s"
                " FOR SHARE)",
                (self.name, record.model_dump_json(by_alias=True), self.name, self._held.id),
            )
            if cur.rowcount != 1:
                raise self._lost_lock()

    def persist(self, state: State) -> None:
        with self._connection() as conn:
            self._persist(conn, state)

    def recover(self) -> State:
        with self._connection() as conn:
            stored, records = self._load(conn)
            if not records:
                return stored
            state = fold(stored, records)
            self._persist(conn, state)
            return state

    def _persist(self, conn: Connection[Any], state: State) -> None:
        """One transaction: fence, refuse another lineage or a corrupt body, write, clear."""
        with self._errors("cannot write the state"), conn.transaction():
            if self._held is not None:
                fence = conn.execute(
                    "SELECT 1 FROM reconciler_locks WHERE name = %s AND id = %s FOR SHARE",
                    (self.name, self._held.id),
                ).fetchone()
                if fence is None:
                    raise self._lost_lock()
            row = conn.execute(
                "SELECT body::text FROM reconciler_states WHERE name = %s FOR UPDATE",
                (self.name,),
            ).fetchone()
            if row is not None:
                current = self._decode_body(row[0])
                if current.lineage != state.lineage:
                    raise LineageError(
                        f"PostgreSQL state {self.location} has lineage {current.lineage}; "
                        f"refusing to overwrite it with a state of lineage {state.lineage}: "
                        "they are different states (check --state and the state name)"
                    )
            conn.execute(
                "INSERT INTO reconciler_states (name, lineage, serial, version, body)"
                " VALUES (%s, %s, %s, %s, %s::jsonb)"
                " ON CONFLICT (name) DO UPDATE SET"
                "  previous_serial = reconciler_states.serial,"
                "  previous_body = reconciler_states.body,"
                "  lineage = excluded.lineage, serial = excluded.serial,"
                "  version = excluded.version, body = excluded.body, updated_at = now()",
                (self.name, state.lineage, state.serial, state.version, _encode_state(state)),
            )
            conn.execute("DELETE FROM reconciler_journal WHERE name = %s", (self.name,))

    def _lost_lock(self) -> LockError:
        return LockError(
            f"PostgreSQL state {self.location}: this process no longer holds lock "
            f"{self._held.id if self._held else '?'} (it was force-unlocked); nothing more was "
            "written: run plan again to see where things stand"
        )

    # -- locking --------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, operation: str, timeout: float = 0.0) -> Iterator[LockInfo]:
        if self._held is not None:
            raise StateError(f"PostgreSQL state {self.location}: the lock is already held here")
        self.stale_lock = None
        conn = self._open()
        try:
            key = self._lock_key()
            with self._errors("cannot take the lock"):
                self._acquire(conn, key, timeout)
                info = LockInfo(
                    id=str(uuid.uuid4()),
                    operation=operation,
                    user=_this_user(),
                    host=socket.gethostname(),
                    pid=os.getpid(),
                    since=utc_now(),
                )
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
                self._session, self._held = conn, info
            try:
                yield info
            finally:
                with self._mutex:
                    self._session, self._held = None, None
                self._release(conn, key, info)
        finally:
            conn.close()

    def _acquire(self, conn: Connection[Any], key: int, timeout: float) -> None:
        """Take the advisory lock, waiting on the server up to ``timeout`` seconds."""
        if timeout <= 0:
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            if row and row[0]:
                return
            raise self._locked_error(conn, key, waited=0.0)
        # The server wakes us the moment the holder lets go; lock_timeout bounds the wait.
        conn.execute(
            "SELECT set_config('lock_timeout', %s, false)", (f"{max(1, int(timeout * 1000))}ms",)
        )
        try:
            conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        except self._pg.errors.LockNotAvailable:
            raise self._locked_error(conn, key, waited=timeout) from None
        finally:
            conn.execute("RESET lock_timeout")

    def _locked_error(self, conn: Connection[Any], key: int, waited: float) -> LockError:
        holder = self._holder(conn)
        waited_text = f" after waiting {waited:g}s" if waited else ""
        if holder is None:
            pids = self._holder_backends(conn, key)
            who = f"another session (backend pid {', '.join(map(str, pids)) or '?'})"
            return LockError(
                f"PostgreSQL state {self.location} is locked{waited_text} by {who} that has "
                "not recorded itself yet; retry in a moment, or wait with --lock-timeout"
            )
        return LockError(
            f"PostgreSQL state {self.location} is locked{waited_text}: {holder.describe()}. "
            "Wait for it to finish, or retry with --lock-timeout SECONDS; if that process is "
            f"stuck, 'reconciler force-unlock {holder.id}' ends its session"
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
        """Remove lock ``lock_id``, ending the holder's session if it is still connected."""
        with self._connection() as conn, self._errors("cannot force-unlock"):
            holder = self._holder(conn)
            if holder is None:
                raise LockError(f"PostgreSQL state {self.location} is not locked; nothing to do")
            if holder.id != lock_id:
                raise LockError(
                    f"PostgreSQL state {self.location}: lock id {lock_id} does not match the "
                    f"current {holder.describe()}; nothing was unlocked"
                )
            key = self._lock_key()
            self._terminate_holders(conn, key)
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
                    f"PostgreSQL state {self.location}: the lock holder's session (backend pid "
                    f"{pid}) is still connected and this role may not end it; ask a database "
                    f"administrator to run SELECT pg_terminate_backend({pid}), then retry"
                ) from None
        deadline = time.monotonic() + _TERMINATE_WAIT_S
        while pids and time.monotonic() < deadline:
            time.sleep(0.05)
            pids = self._holder_backends(conn, key)
