"""The state-storage interface every backend implements (local file, PostgreSQL).

It is deliberately small, in the spirit of Terraform's ``statemgr``: lock, read, journal,
persist. Crash safety comes from the split between ``append`` (O(1), durable before it returns,
called before and after every API request) and ``persist`` (rewrites the state once, atomically,
at the end of a command or when a leftover journal is recovered). ``tests/state/contract.py``
is the shared contract test that every backend must pass.

Usage by a writing command::

    with store.lock("apply", timeout=0) as held:
        state = store.recover()          # folds any journal a crash left behind
        store.append(JournalRecord(...))  # around each API request
        ...
        store.persist(fold(state, records))
"""

# Not ``from __future__ import annotations``: pydantic would compile every annotation of
# these models back from its string (docs/ARCHITECTURE.md, "Start-up stays light").

from contextlib import AbstractContextManager
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from reconciler.state.model import JournalRecord, State


class LockInfo(BaseModel):
    """Who holds a state lock, for the message of whoever waits or gives up."""

    # Built when first used: a plan reads no journal and takes no lock (startup time).
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    id: str
    operation: str
    user: str
    host: str
    pid: int
    since: str

    def describe(self) -> str:
        return (
            f"lock {self.id} held by {self.user}@{self.host} (pid {self.pid}) "
            f"for '{self.operation}' since {self.since}"
        )


class StateStore(Protocol):
    """Where one state lives. Implementations: ``LocalStateStore``, ``PostgresStateStore``."""

    #: Where the state lives, for messages. Never contains a password.
    location: str
    #: Set by ``lock()`` when it took over a lock whose holder had died.
    stale_lock: LockInfo | None
    #: Things worth telling the user that are not errors (e.g. a torn last journal line was
    #: dropped), added by ``read()`` / ``recover()``; the CLI prints them as warnings.
    notes: list[str]

    def exists(self) -> bool:
        """True once a state has been persisted here."""
        ...

    def read(self) -> State:
        """The persisted state with any leftover journal folded in (in memory only).

        Returns ``State.new()`` when nothing was persisted yet. Writes nothing to the store
        and takes no lock; it may add to ``notes`` (a torn last journal line was dropped).
        Raises ``StateCorruptError`` or ``StateVersionError`` for a state or journal it cannot
        trust, ``LineageError`` when the journal belongs to another state, and ``StateError``
        when the store cannot be read (I/O error, database unreachable).
        """
        ...

    def lock(self, operation: str, timeout: float = 0.0) -> AbstractContextManager[LockInfo]:
        """Hold the write lock for the block. Waits up to ``timeout`` seconds, then raises
        ``LockError`` naming the holder. A lock whose holder died is taken over, and its
        record is left in ``stale_lock`` for the CLI to report."""
        ...

    def recover(self) -> State:
        """Under the lock: fold a leftover journal into the state, persist, clear the journal,
        and return the state. A no-op read when there is no journal."""
        ...

    def append(self, record: JournalRecord) -> None:
        """Under the lock: append one journal record, durable (flushed and fsynced, or
        committed) before returning. O(1) whatever the size of the state."""
        ...

    def persist(self, state: State) -> None:
        """Under the lock: atomically replace the stored state with ``state`` and clear the
        journal. Keeps the previous version as a backup. Refuses another lineage. Like
        ``append``, raises ``RuntimeError`` (a bug in the caller) when a journal left by a
        crashed command is there and ``recover()`` was not called first."""
        ...

    def journal(self) -> list[JournalRecord]:
        """The records appended since the last persist (empty when none)."""
        ...

    def lock_holder(self) -> LockInfo | None:
        """The current holder's record, if any (for ``force-unlock`` and messages)."""
        ...

    def force_unlock(self, lock_id: str) -> LockInfo:
        """Remove the lock with this id; raises ``LockError`` when the id does not match."""
        ...
