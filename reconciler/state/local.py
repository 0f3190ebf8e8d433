"""The local-file state backend: a JSON state file, a JSONL journal, a lock file, backups.

Files next to the state ``<path>`` (see docs/STATE.md for the user's view):

- ``<path>``: the state, rewritten only by ``persist``: a temporary file in the same
  directory, fsynced, renamed over the old one, then the directory fsynced. Never written in
  place, so a crash leaves either the old or the new state, whole.
- ``<path>.backup``: the previous state, and ``<dir>/.backups/<name>.serial-<N>`` the last
  ``KEEP_BACKUPS`` ones. They are hard links to the replaced file (a copy where the file system
  has no links), so a backup costs no extra write.
- ``<path>.journal``: records appended while a command runs; removed by ``persist``.
- ``<path>.lock``: the lock. The OS lock (``flock``) on it is what excludes other writers and
  is released by the kernel when the holder dies; its content only says who holds it. It is a
  file of its own so the rename of the state file never drops it.

``append`` is the hot path of apply (two records per request, from a thread pool), so it does
group commit: each caller writes its line, then waits until an fsync that started after its
write has finished; one thread runs that fsync for all the lines written so far, and lines
written meanwhile ride on the next one.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from pydantic import ValidationError

from reconciler import logs
from reconciler.errors import LockError, StateError
from reconciler.files import atomic_write, fsync_dir, write_all
from reconciler.state import common
from reconciler.state.codec import (
    Journal,
    decode_journal,
    decode_state,
    encode_header,
    encode_record,
    encode_state,
)
from reconciler.state.common import Site, fold_journal, lock_info_now, successor
from reconciler.state.model import JournalRecord, State
from reconciler.state.store import LockInfo

log = logs.Log(__name__)

#: Numbered backups kept in ``<dir>/.backups/`` (the newest ones); ``<path>.backup`` is extra.
KEEP_BACKUPS = 10
#: How often a waiting ``lock()`` tries again.
LOCK_POLL_SECONDS = 0.05


class LocalStateStore:
    """A state kept in a local JSON file (``StateStore`` protocol).

    One object serves one command; it is safe to ``append`` from many threads. Two objects on
    the same path exclude each other through the lock like two processes do.
    """

    def __init__(self, path: Path, *, keep_backups: int = KEEP_BACKUPS) -> None:
        self.path = path
        self.location = str(path)
        self.journal_path = path.with_name(path.name + ".journal")
        self.lock_path = path.with_name(path.name + ".lock")
        self.backup_path = path.with_name(path.name + ".backup")
        self.backups_dir = path.parent / ".backups"
        self.keep_backups = keep_backups
        self.stale_lock: LockInfo | None = None
        #: Things worth telling the user that are not errors (a torn journal line dropped).
        self.notes: list[str] = []
        self._held: tuple[int, LockInfo] | None = None
        # The (lineage, serial) new journal headers name; set by recover() and persist().
        self._base: tuple[str, int] | None = None
        # Journal writing, guarded by _journal_cond (see append()).
        self._journal_cond = threading.Condition()
        self._journal_fd: int | None = None
        self._written = 0  # bytes of records written to the journal file
        self._durable = 0  # of which covered by a finished fsync
        self._syncing = False

    # --- reading -----------------------------------------------------------------------------

    def exists(self) -> bool:
        return self.path.exists()

    def read(self) -> State:
        stored = self._read_state()
        return self._combine(stored, self._read_journal())

    def journal(self) -> list[JournalRecord]:
        journal = self._read_journal()
        return list(journal.records) if journal else []

    def _read_state(self) -> State | None:
        data = _read_bytes(self.path)
        return None if data is None else decode_state(data, self.location)

    def _read_journal(self) -> Journal | None:
        data = _read_bytes(self.journal_path)
        if data is None:
            return None
        journal = decode_journal(data, str(self.journal_path))
        if journal and journal.torn_note and journal.torn_note not in self.notes:
            # The CLI shows ``notes`` to the user; the log line is for library users.
            log.info("%s", journal.torn_note)
            self.notes.append(journal.torn_note)
        return journal

    def _combine(self, stored: State | None, journal: Journal | None) -> State:
        """The stored state with the journal folded in, after checking they belong together."""
        if journal is None:
            return fold_journal(stored, None, [], self._site)
        head = (journal.header.lineage, journal.header.serial)
        return fold_journal(stored, head, journal.records, self._site)

    @property
    def _site(self) -> Site:
        return Site(
            state=self.location,
            journal=str(self.journal_path),
            restore="restore the state from a backup (see docs/STATE.md)",
            set_aside="move the journal aside (see docs/STATE.md)",
        )

    # --- locking -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, operation: str, timeout: float = 0.0) -> Iterator[LockInfo]:
        if self._held is not None:
            raise common.AlreadyLockedError(self.location, self._held[1])
        info = lock_info_now(operation)
        self.stale_lock = None
        fd = self._acquire(info, timeout)
        self._held = (fd, info)
        try:
            yield info
        finally:
            self._release()

    def lock_holder(self) -> LockInfo | None:
        return _parse_lock(_read_bytes(self.lock_path))

    def force_unlock(self, lock_id: str) -> LockInfo:
        try:
            fd = os.open(self.lock_path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise common.NotLockedError(self.location) from None
        except OSError as exc:
            raise _io_error("open the lock file", self.lock_path, exc) from None
        try:
            holder = _parse_lock(_read_fd(fd))
            if holder is None:
                raise LockError(
                    f"{self.lock_path} holds no readable lock record, so lock id {lock_id} "
                    "cannot be checked; if no reconciler is running, delete the file"
                )
            if holder.id != lock_id:
                raise common.WrongLockIdError(self.location, self.location, lock_id, holder)
            # Unlink only the file we read, not one a new holder created in the meantime.
            if _same_file(fd, self.lock_path):
                self.lock_path.unlink()
                fsync_dir(self.path.parent)
            return holder
        finally:
            os.close(fd)

    def _acquire(self, info: LockInfo, timeout: float) -> int:
        deadline = time.monotonic() + max(timeout, 0.0)
        waiting = False
        while True:
            fd = self._try_lock()
            if fd is not None:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._busy(timeout)
            if not waiting:
                # Said once (with --verbose), so a wait is not mistaken for a hang.
                log.info("the state is locked: waiting up to %gs for the lock", timeout)
                waiting = True
            time.sleep(min(LOCK_POLL_SECONDS, remaining))
        try:
            previous = _read_fd(fd)
            if previous.strip():
                # A record with no OS lock behind it: its holder died without releasing.
                self.stale_lock = _parse_lock(previous) or _unreadable_lock(previous)
                # Reported by the CLI from ``stale_lock``; a warning here would say it twice.
                log.info("took over a lock left by a dead process: %s", self.stale_lock)
            data = info.model_dump_json().encode() + b"\n"
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
            os.fsync(fd)
        except OSError as exc:
            os.close(fd)
            raise _io_error("write the lock file", self.lock_path, exc) from None
        return fd

    def _try_lock(self) -> int | None:
        """The lock file's descriptor with the OS lock held, or None when someone has it."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _io_error("create the state directory", self.path.parent, exc) from None
        while True:
            try:
                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                raise _io_error("open the lock file", self.lock_path, exc) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    return None
                raise _io_error("lock", self.lock_path, exc) from None
            # The previous holder unlinks the file before releasing it: if the file we locked
            # is no longer the one at lock_path, we hold a lock on nothing. Try again.
            if _same_file(fd, self.lock_path):
                return fd
            os.close(fd)

    def _release(self) -> None:
        if self._held is None:
            return
        fd, _info = self._held
        self._held = None
        try:
            self._close_journal()
        finally:
            try:
                # Unlink before closing, so a waiter never locks a file that stays behind;
                # and only if it is still ours (force-unlock may have handed it to another).
                if _same_file(fd, self.lock_path):
                    self.lock_path.unlink()
            except OSError as exc:
                log.warning("could not remove the lock file %s: %s", self.lock_path, exc)
            finally:
                os.close(fd)

    def _busy(self, timeout: float) -> LockError:
        holder = None
        for _ in range(5):  # the holder writes its record right after taking the OS lock
            holder = self.lock_holder()
            if holder is not None:
                break
            time.sleep(0.01)
        who = holder.describe() if holder else "a lock whose holder has not written its record"
        unlock = (
            common.force_unlock_command(holder.id, self.location)
            if holder
            else f"deleting {self.lock_path}"
        )
        return common.LockHeldError(
            self.location,
            who,
            timeout,
            f"if it is hung or its machine is gone, remove the lock with {unlock}",
        )

    def _require_lock(self, action: str) -> None:
        if self._held is None:
            raise common.LockNeededError(self.location, action)
        fd, info = self._held
        if not _same_file(fd, self.lock_path):
            raise common.LockLostError(self.location, info, action)

    # --- writing -----------------------------------------------------------------------------

    def recover(self) -> State:
        self._require_lock("recover the state")
        stored_bytes = _read_bytes(self.path)
        stored = None if stored_bytes is None else decode_state(stored_bytes, self.location)
        if not self.journal_path.exists():
            state = stored if stored is not None else State.new()
            self._base = (state.lineage, state.serial)
            return state
        journal = self._read_journal()
        if journal is None and stored is None:
            # A crash right after the journal was created, before any record: nothing to
            # recover, and no reason to create a state file.
            self._remove_journal()
            state = State.new()
            self._base = (state.lineage, state.serial)
            return state
        return self._write(self._combine(stored, journal), stored, stored_bytes)

    def append(self, record: JournalRecord) -> None:
        line = encode_record(record)  # outside the lock: threads encode in parallel
        # Checked on every append (two stat calls, small next to the fsync): once a lock is
        # force-unlocked, the next holder may fold and delete this journal, and lines written
        # after that would be lost; better to stop before the next request is sent.
        self._require_lock("append to the journal")
        with self._journal_cond:
            fd = self._journal_fd if self._journal_fd is not None else self._open_journal()
            try:
                write_all(fd, line)
            except OSError as exc:
                raise _io_error("append to the journal", self.journal_path, exc) from None
            self._written += len(line)
            mine = self._written
            while self._durable < mine:
                if self._syncing:
                    self._journal_cond.wait()
                    continue
                # Nobody is syncing: this thread does it, for every line written so far.
                self._syncing = True
                target = self._written
                self._journal_cond.release()
                try:
                    os.fsync(fd)
                except OSError as exc:
                    raise _io_error("fsync the journal", self.journal_path, exc) from None
                finally:
                    self._journal_cond.acquire()
                    self._syncing = False
                    self._journal_cond.notify_all()
                self._durable = max(self._durable, target)

    def persist(self, state: State) -> None:
        self._require_lock("write the state")
        if self.journal_path.exists() and self._journal_fd is None:
            raise common.unrecovered_journal(str(self.journal_path), "writing the state")
        stored_bytes = _read_bytes(self.path)
        stored = None if stored_bytes is None else decode_state(stored_bytes, self.location)
        self._write(state, stored, stored_bytes)

    def _open_journal(self) -> int:
        """Create the journal with its header; called with ``_journal_cond`` held."""
        self._require_lock("append to the journal")
        if self._base is None:
            # No recover() ran: name the state as it is on disk (or a new one).
            current = self._read_state() or State.new()
            self._base = (current.lineage, current.serial)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        try:
            fd = os.open(self.journal_path, flags, 0o644)
        except FileExistsError:
            raise common.unrecovered_journal(str(self.journal_path), "appending") from None
        except OSError as exc:
            raise _io_error("create the journal", self.journal_path, exc) from None
        try:
            write_all(fd, encode_header(*self._base))
            os.fsync(fd)
            fsync_dir(self.path.parent)  # the journal's directory entry must survive too
        except OSError as exc:
            os.close(fd)
            raise _io_error("create the journal", self.journal_path, exc) from None
        self._journal_fd = fd
        self._written = self._durable = 0
        return fd

    def _close_journal(self) -> None:
        with self._journal_cond:
            if self._journal_fd is not None:
                os.close(self._journal_fd)
                self._journal_fd = None

    def _write(self, state: State, stored: State | None, stored_bytes: bytes | None) -> State:
        """Replace the stored state by ``state`` (serial fixed up), then drop the journal."""
        state = successor(stored, state, self.location)
        data = encode_state(state)
        if data != stored_bytes:
            self._replace_file(data, stored)
        self._remove_journal()
        self._base = (state.lineage, state.serial)
        return state

    def _remove_journal(self) -> None:
        self._close_journal()
        try:
            self.journal_path.unlink(missing_ok=True)
            fsync_dir(self.path.parent)
        except OSError as exc:
            raise _io_error("remove the journal", self.journal_path, exc) from None

    def _replace_file(self, data: bytes, stored: State | None) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if stored is not None:
                # A hard link to the current file: the state itself stays until the rename.
                self._back_up(stored.serial)
            atomic_write(self.path, data)
        except OSError as exc:
            raise _io_error("write the state", self.path, exc) from None

    def _back_up(self, serial: int) -> None:
        """Keep the current state file as ``.backup`` and as a numbered backup."""
        self.backups_dir.mkdir(exist_ok=True)
        _link_over(self.path, self.backup_path)
        _link_over(self.path, self.backups_dir / f"{self.path.name}.serial-{serial}")
        prefix = f"{self.path.name}.serial-"
        numbered = []
        for entry in self.backups_dir.iterdir():
            suffix = entry.name.removeprefix(prefix)
            if suffix != entry.name and suffix.isdigit():
                numbered.append((int(suffix), entry))
        numbered.sort()
        for _serial, old in numbered[: max(len(numbered) - self.keep_backups, 0)]:
            old.unlink(missing_ok=True)
        fsync_dir(self.backups_dir)


# --- file helpers ----------------------------------------------------------------------------


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _io_error("read", path, exc) from None


def _read_fd(fd: int) -> bytes:
    chunks = []
    offset = 0
    while chunk := os.pread(fd, 65536, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _same_file(fd: int, path: Path) -> bool:
    try:
        here = path.stat()
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (here.st_dev, here.st_ino) == (mine.st_dev, mine.st_ino)


def _link_over(source: Path, target: Path) -> None:
    """Make ``target`` a hard link to ``source`` (a copy where links are not supported)."""
    tmp = target.with_name(f".{target.name}.{os.urandom(6).hex()}.tmp")
    try:
        try:
            os.link(source, tmp)
        except OSError:
            # Imported here: links rarely fail, and shutil (with the bz2 and lzma modules it
            # imports) costs every command that opens a state store, plan too, about 7 M
            # instructions.
            import shutil

            shutil.copy2(source, tmp)
            with tmp.open("rb+") as copy:
                os.fsync(copy.fileno())
        tmp.replace(target)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise


def _parse_lock(data: bytes | None) -> LockInfo | None:
    if not data or not data.strip():
        return None
    try:
        return LockInfo.model_validate_json(data)
    except ValidationError:
        return None


def _unreadable_lock(data: bytes) -> LockInfo:
    """Stand-in for a dead holder's record that cannot be parsed (cut short by the crash)."""
    return LockInfo(
        id="unknown",
        operation="unknown",
        user="unknown",
        host="unknown",
        pid=0,
        since=f"unknown (unreadable record: {data[:60]!r})",
    )


def _io_error(action: str, path: Path, exc: OSError) -> StateError:
    return StateError(f"could not {action} {path}: {exc.strerror or exc}")
