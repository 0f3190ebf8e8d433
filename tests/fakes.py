"""In-process stand-ins for the API and the state store, for executor and CLI unit tests.

End-to-end tests use the real simulator and the real stores; these exist so that one rule of
the executor can be tested without a server.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from reconciler.api.base import CancelOutcome
from reconciler.errors import LockError
from reconciler.records import RunAttributes
from reconciler.state.model import JournalRecord, State, fold
from reconciler.state.store import LockInfo

TriggerHook = Callable[[RunAttributes, str], int | None]


class FakeApi:
    """Hands out increasing ids; ``trigger_errors`` / ``cancel_errors`` map a key to an
    exception (or a callable returning one) raised instead of answering."""

    def __init__(self) -> None:
        self.next_id = 1000
        self.triggered: list[tuple[str, RunAttributes, int]] = []
        self.cancelled: list[tuple[str, int, int]] = []
        self.trigger_errors: dict[str, Exception] = {}
        self.cancel_errors: dict[str, Exception] = {}
        self.cancel_answers: dict[str, CancelOutcome] = {}
        self.calls: list[tuple[str, str]] = []
        self.on_trigger: Callable[[str], None] | None = None
        self._lock = threading.Lock()
        self.closed = False

    def trigger(self, attributes: RunAttributes, *, key: str) -> int:
        with self._lock:
            self.calls.append(("trigger", key))
        if self.on_trigger is not None:
            self.on_trigger(key)
        if key in self.trigger_errors:
            raise self.trigger_errors[key]
        with self._lock:
            self.next_id += 1
            self.triggered.append((key, attributes, self.next_id))
            return self.next_id

    def cancel(self, workspace_id: int, test_run_id: int, *, key: str) -> CancelOutcome:
        with self._lock:
            self.calls.append(("cancel", key))
        if key in self.cancel_errors:
            raise self.cancel_errors[key]
        with self._lock:
            self.cancelled.append((key, workspace_id, test_run_id))
        return self.cancel_answers.get(key, CancelOutcome.CANCELLED)

    def close(self) -> None:
        self.closed = True


class MemoryStore:
    """A StateStore kept in memory (not durable): enough for executor tests."""

    location = "memory"

    def __init__(self, state: State | None = None) -> None:
        self.state = state or State.new()
        self.records: list[JournalRecord] = []
        self.persisted: list[State] = []
        self.stale_lock: LockInfo | None = None
        self.notes: list[str] = []
        self._held: LockInfo | None = None
        self._lock = threading.Lock()

    def exists(self) -> bool:
        return bool(self.persisted)

    def read(self) -> State:
        return fold(self.state, list(self.records))

    @contextmanager
    def lock(self, operation: str, timeout: float = 0.0) -> Iterator[LockInfo]:
        if self._held is not None:
            raise LockError(f"state is locked: {self._held.describe()}")
        self._held = LockInfo(id="mem", operation=operation, user="u", host="h", pid=1, since="now")
        try:
            yield self._held
        finally:
            self._held = None

    def recover(self) -> State:
        if self.records:
            self.persist(self.read())
        return self.state

    def append(self, record: JournalRecord) -> None:
        with self._lock:
            self.records.append(record)

    def persist(self, state: State) -> None:
        self.state = state
        self.records = []
        self.persisted.append(state)

    def journal(self) -> list[JournalRecord]:
        return list(self.records)

    def lock_holder(self) -> LockInfo | None:
        return self._held

    def force_unlock(self, lock_id: str) -> LockInfo:
        raise LockError("not supported")
