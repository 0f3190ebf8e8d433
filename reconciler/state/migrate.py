"""Moving a state between backends: ``reconciler state copy SRC DST`` (file <-> PostgreSQL).

A copy keeps the state's identity (lineage) and history position (serial), so saved plans and
every later command treat the copy as the same state. It never overwrites another state: a
destination of another lineage, or one that is ahead of the source, is refused.
"""

from __future__ import annotations

from reconciler.errors import LineageError, StateError, UsageError
from reconciler.state.model import State
from reconciler.state.store import StateStore


def copy_state(src: StateStore, dst: StateStore, *, lock_timeout: float = 0.0) -> State:
    """Copy the state at ``src`` to ``dst`` and return what ``dst`` now holds.

    Both locks are held for the whole copy (source first). The source is only read: a journal
    an interrupted command left there is folded in memory, so the copy includes it (unknown
    outcomes included) and the source stays as it was. ``dst`` may be empty, or hold an older
    serial of the same lineage (a copy made earlier); anything else is refused untouched.
    """
    if src.location == dst.location:
        raise UsageError(f"source and destination are the same state: {src.location}")
    with src.lock("state copy", timeout=lock_timeout):
        if not src.exists() and not src.journal():
            raise StateError(f"{src.location}: there is no state to copy")
        state = src.read()
        with dst.lock("state copy", timeout=lock_timeout):
            current = dst.recover()
            if dst.exists():
                _refuse_overwrite(src.location, state, dst.location, current)
            dst.persist(state)
            return dst.read()


def _refuse_overwrite(src: str, state: State, dst: str, current: State) -> None:
    if current.lineage != state.lineage:
        raise LineageError(
            f"refusing to copy {src} (lineage {state.lineage}) over {dst}, which holds another "
            f"state (lineage {current.lineage}); copy to an empty location, or remove that "
            "state first if it is really unwanted"
        )
    if current.serial > state.serial:
        raise StateError(
            f"refusing to copy {src} (serial {state.serial}) over {dst}: the destination is "
            f"newer (serial {current.serial}); did you mean to copy the other way?"
        )
    if current.serial == state.serial and current.runs != state.runs:
        raise StateError(
            f"refusing to copy {src} over {dst}: both are at serial {state.serial} but hold "
            "different runs, so they have diverged; compare them with 'reconciler state list'"
        )
