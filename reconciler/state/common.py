"""Logic every state backend shares, written once: lock records, serials, and the checks that
decide whether a leftover journal may be folded into the stored state.

The backends differ in where things live (a file next to the state, rows in a table), so each
passes a ``Site`` naming its state and journal and saying how a user fixes them there; the
rules and the wording of the errors are the same everywhere.
"""

from __future__ import annotations

import os
import shlex
from typing import NamedTuple

from reconciler.errors import LineageError, LockError, StateCorruptError
from reconciler.state.model import JournalRecord, State, fold, utc_now
from reconciler.state.store import LockInfo


# A NamedTuple: immutable, and cheaper to define than a frozen dataclass (docs/ARCHITECTURE.md).
class Site(NamedTuple):
    """How one backend names its state and journal in messages, and how to repair them."""

    #: The state, as messages name it (never with a password).
    state: str
    #: Its journal, as messages name it.
    journal: str
    #: How to put back an earlier state: "restore the state from a backup (see ...)".
    restore: str
    #: How to get rid of a journal that cannot be folded: "move the journal aside (see ...)".
    set_aside: str


def lock_info_now(operation: str) -> LockInfo:
    """A fresh lock record for this process: new uuid4 id, user, host, pid, time."""
    # Imported here: only the commands that lock need them, and a plan takes no lock.
    import getpass
    import socket
    import uuid

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no USER/LOGNAME (some containers)
        user = "unknown"
    return LockInfo(
        id=str(uuid.uuid4()),
        operation=operation,
        user=user,
        host=socket.gethostname(),
        pid=os.getpid(),
        since=utc_now(),
    )


def fold_journal(
    stored: State | None,
    head: tuple[str, int] | None,
    records: list[JournalRecord],
    site: Site,
) -> State:
    """The stored state with the journal folded in, after checking they belong together.

    ``head`` is the (lineage, serial) the journal says it amends; None when there is no
    journal. A journal without a stored state is only trusted when it amends serial 0 (the
    first apply of a new state died), and then the state adopts the journal's lineage.
    """
    if head is None:
        return stored if stored is not None else State.new()
    lineage, serial = head
    if stored is None:
        if serial > 0:
            raise StateCorruptError(
                f"{site.journal} amends serial {serial} of a state, but {site.state} is "
                f"missing; {site.restore} and run the command again"
            )
        stored = State(lineage=lineage, serial=0)
    if lineage != stored.lineage:
        raise LineageError(
            f"{site.journal} belongs to state lineage {lineage}, but {site.state} has lineage "
            f"{stored.lineage}; the state was replaced while a command was interrupted. Put "
            f"the matching state back, or {site.set_aside}"
        )
    if serial > stored.serial:
        raise StateCorruptError(
            f"{site.journal} amends serial {serial}, but {site.state} is at serial "
            f"{stored.serial} (restored from an older backup?); put the newer state back or "
            f"{site.set_aside}"
        )
    # A serial below the state's means a crash came between the write of a new state and the
    # removal of this journal; fold is idempotent, so replaying is harmless.
    return fold(stored, records)


def successor(stored: State | None, state: State, location: str) -> State:
    """``state`` as it may replace ``stored``: same lineage, serial moved past the stored one
    when (and only when) the runs change. Raises ``LineageError`` for another state."""
    if stored is None:
        return state
    if state.lineage != stored.lineage:
        raise LineageError(
            f"refusing to overwrite {location} (lineage {stored.lineage}) with a state of "
            f"lineage {state.lineage}: they are two different states. Check --state, or move "
            "the stored state aside first"
        )
    changed = state.runs != stored.runs
    serial = max(state.serial, stored.serial + 1) if changed else stored.serial
    return state if serial == state.serial else state.model_copy(update={"serial": serial})


# --- messages ---------------------------------------------------------------------------------


def unrecovered_journal(journal: str, action: str) -> RuntimeError:
    """``action`` before ``recover()`` would lose (or mix up) what a crashed command journaled.

    A bug in the caller, not something a user can fix: every command that writes calls
    ``recover()`` right after taking the lock (see ``StateStore``).
    """
    return RuntimeError(
        f"{journal} was left by an interrupted command and has not been recovered; "
        f"the caller must call recover() under the lock before {action}"
    )


class LockNeededError(LockError):
    """A write was attempted without holding the state lock."""

    def __init__(self, location: str, action: str) -> None:
        super().__init__(f"{location}: {action} needs the state lock; take it first")


class AlreadyLockedError(LockError):
    """This command asked again for a lock it holds."""

    def __init__(self, location: str, held: LockInfo) -> None:
        super().__init__(f"{location}: this command already holds {held.describe()}")


class LockLostError(LockError):
    """The lock was force-unlocked under a live holder: it must stop writing."""

    def __init__(self, location: str, held: LockInfo, action: str) -> None:
        super().__init__(
            f"{location}: {held.describe()} was removed by force-unlock while this command "
            f"held it; not going to {action}. What was already journaled is recovered by the "
            "next command"
        )


class LockHeldError(LockError):
    """The lock is busy: who holds it (``who``), and the user's ways forward."""

    def __init__(self, location: str, who: str, timeout: float, unlock: str) -> None:
        self.who = who
        waited = f" (waited {timeout:g}s)" if timeout > 0 else ""
        super().__init__(
            f"{location} is locked{waited}: {who}. Wait for that command to finish, or retry "
            f"with --lock-timeout to wait for it; {unlock}"
        )


class WrongLockIdError(LockError):
    """force-unlock named another lock. ``where`` names the state in prose; ``location`` is
    its ``--state`` value."""

    def __init__(self, where: str, location: str, lock_id: str, holder: LockInfo) -> None:
        super().__init__(
            f"lock id {lock_id} is not the lock on {where}, which is {holder.describe()}; to "
            f"remove that one, run {force_unlock_command(holder.id, location)}"
        )


class NotLockedError(LockError):
    """force-unlock found no lock to remove."""

    def __init__(self, location: str) -> None:
        super().__init__(f"{location} is not locked; nothing to unlock")


def force_unlock_command(lock_id: str, location: str) -> str:
    """The command that removes lock ``lock_id``, in backticks as the tool quotes commands;
    the location shell-quoted inside, so it can be pasted as it is."""
    return f"`reconciler force-unlock {lock_id} --state {shlex.quote(location)}`"
