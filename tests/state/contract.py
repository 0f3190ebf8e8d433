"""The contract every ``StateStore`` backend must pass.

A backend's test module subclasses ``StateStoreContract`` and provides:

- the ``location`` fixture: a fresh, empty location string that ``open_store`` accepts (a
  path for the local backend, a URL for PostgreSQL), so stores can be opened from a second
  process too;
- ``write_raw`` / ``read_raw``: put and fetch the stored state document's bytes, bypassing the
  store (to break it by hand and to prove a refused document was left untouched);
- ``read_backup``: the bytes of the newest backup (the state before the last change).

Everything else goes through the ``StateStore`` protocol only. ``make_store`` returns a new
store object on the same location each call; two objects exclude each other like two
processes do.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.errors import (
    LineageError,
    LockError,
    StateCorruptError,
    StateError,
    StateVersionError,
)
from reconciler.results.findings import ROW_FIELDS
from reconciler.state import open_store
from reconciler.state.codec import decode_state, encode_state
from reconciler.state.model import STATE_VERSION, JournalRecord, State, TrackedRun, fold
from reconciler.state.store import StateStore
from tests.factories import attrs, finding, recorded, result_of, tracked
from tests.polling import wait_until

StoreFactory = Callable[[], StateStore]

DATA = Path(__file__).resolve().parent.parent / "data" / "state"
REPO_ROOT = Path(__file__).resolve().parents[2]

_HOLD_LOCK = """
import sys, time
from reconciler.state import open_store
store = open_store(sys.argv[1])
with store.lock("apply") as info:
    print(info.id, flush=True)
    time.sleep(120)
"""


def state_with(base: State, **runs: TrackedRun) -> State:
    return base.with_runs({**base.runs, **runs})


def persisted(store: StateStore, **runs: TrackedRun) -> State:
    """Persist a state holding ``runs`` on top of what is stored; return what was stored."""
    with store.lock("test"):
        store.persist(state_with(store.recover(), **runs))
    return store.read()


class StateStoreContract:
    """Subclass as ``TestXxxStateStore`` and override the fixture and the raw hooks."""

    @pytest.fixture
    def location(self) -> str:
        raise NotImplementedError("backends provide a fresh location")

    @pytest.fixture
    def make_store(self, location: str) -> StoreFactory:
        return lambda: open_store(location)

    @pytest.fixture
    def store(self, make_store: StoreFactory) -> StateStore:
        return make_store()

    def write_raw(self, location: str, data: bytes) -> None:
        raise NotImplementedError

    def read_raw(self, location: str) -> bytes | None:
        raise NotImplementedError

    def read_backup(self, location: str) -> bytes | None:
        raise NotImplementedError

    # --- reading and persisting ----------------------------------------------------------

    def test_new_store_reads_an_empty_state(self, store: StateStore) -> None:
        assert not store.exists()
        state = store.read()
        assert state.runs == {}
        assert state.serial == 0
        assert store.journal() == []
        assert store.lock_holder() is None
        assert not store.exists(), "read() must never write"

    def test_persist_then_read_round_trips(
        self, store: StateStore, make_store: StoreFactory
    ) -> None:
        unknown = TrackedRun(
            status="unknown",
            attributes=attrs(target_id=3),
            triggered_at="2024-05-01T10:00:00Z",
            note="x",
        )
        with store.lock("apply"):
            state = state_with(
                store.recover(),
                a=tracked(attrs(target_id=1), 11),
                b=tracked(attrs(target_id=2), 22),
                c=unknown,
            )
            store.persist(state)
        assert store.exists()
        assert make_store().read() == state

    def test_serial_bumps_only_on_change(self, store: StateStore) -> None:
        first = persisted(store, a=tracked(attrs(target_id=1), 11))
        assert first.serial == 1
        with store.lock("apply"):
            store.persist(store.recover())
            assert store.read().serial == 1, "an unchanged state keeps its serial"
            changed = first.model_copy(
                update={"runs": {"a": tracked(attrs(target_id=1), 12)}}
            )  # same serial
            store.persist(changed)
        assert store.read().serial == 2
        assert store.read().runs == {"a": tracked(attrs(target_id=1), 12)}

    def test_lineage_is_kept_across_persists(self, store: StateStore) -> None:
        lineage = persisted(store, a=tracked(attrs(target_id=1), 11)).lineage
        persisted(store, b=tracked(attrs(target_id=2), 22))
        assert store.read().lineage == lineage

    def test_another_lineage_is_refused(self, store: StateStore, location: str) -> None:
        persisted(store, a=tracked(attrs(target_id=1), 11))
        before = self.read_raw(location)
        with store.lock("apply"), pytest.raises(LineageError, match="lineage"):
            store.persist(State.new().with_runs({"b": tracked(attrs(target_id=2), 22)}))
        assert self.read_raw(location) == before

    # --- journal ---------------------------------------------------------------------------

    def test_append_is_folded_by_read_without_writing(
        self, store: StateStore, make_store: StoreFactory, location: str
    ) -> None:
        persisted(store, a=tracked(attrs(target_id=1), 11))
        before = self.read_raw(location)
        records = [
            JournalRecord(op="trigger-intent", key="b", attributes=attrs(target_id=2)),
            JournalRecord(op="trigger-done", key="b", test_run_id=22),
        ]
        with store.lock("apply"):
            store.recover()
            for record in records:
                store.append(record)
            other = make_store()
            assert other.journal() == records
            seen = other.read()
            assert seen.runs["b"].test_run_id == 22
            assert seen.runs["a"] == tracked(attrs(target_id=1), 11)
            assert self.read_raw(location) == before, "read() must never write"

    def test_recover_folds_a_leftover_journal_and_clears_it(
        self, store: StateStore, make_store: StoreFactory
    ) -> None:
        with store.lock("apply"):
            base = store.recover()
            store.append(JournalRecord(op="trigger-intent", key="a", attributes=attrs(target_id=1)))
            store.append(JournalRecord(op="trigger-done", key="a", test_run_id=11))
            # The command "crashes": the lock goes, persist never runs.
        survivor = make_store()
        with survivor.lock("apply"):
            state = survivor.recover()
            assert state.runs["a"].test_run_id == 11
            assert survivor.journal() == []
        assert make_store().read() == state
        assert state.lineage == base.lineage, "the crashed command's lineage is kept"

    def test_intent_without_answer_becomes_unknown(
        self, store: StateStore, make_store: StoreFactory
    ) -> None:
        with store.lock("apply"):
            store.recover()
            store.append(JournalRecord(op="trigger-intent", key="a", attributes=attrs(target_id=1)))
        entry = make_store().read().runs["a"]
        assert entry.status == "unknown"
        assert entry.test_run_id is None
        assert entry.attributes == attrs(target_id=1)

    def test_results_and_history_survive_the_journal_and_a_persist(
        self, store: StateStore, make_store: StoreFactory
    ) -> None:
        # A run seen ended, then replaced: its result reaches the journal, the replacement
        # inherits it as history, and both survive a crash (recovery) and a persist.
        persisted(store, a=tracked(attrs(target_id=1), 11))
        with store.lock("apply"):
            store.recover()
            for record in [
                JournalRecord(op="result", key="a", test_run_id=11, result=result_of(11, failed=2)),
                JournalRecord(op="cancel-intent", key="a", test_run_id=11),
                JournalRecord(op="cancel-done", key="a", test_run_id=11),
                JournalRecord(op="trigger-intent", key="a", attributes=attrs(target_id=1)),
                JournalRecord(op="trigger-done", key="a", test_run_id=12),
                JournalRecord(op="result", key="a", test_run_id=12, result=result_of(12)),
            ]:
                store.append(record)
            # The command "crashes" here: the next one recovers the journal.
        survivor = make_store()
        with survivor.lock("apply"):
            recovered = survivor.recover()
        run = make_store().read().runs["a"]
        assert run == recovered.runs["a"]
        assert run.result is not None and run.result.test_run_id == 12
        assert [(r.test_run_id, r.counts.failed) for r in run.history] == [(11, 2)]

    def test_findings_survive_the_journal_a_crash_and_a_persist(
        self, store: StateStore, make_store: StoreFactory, location: str
    ) -> None:
        # status records a result and then its findings; the findings of an earlier run (now
        # history) come in later. A crash before the persist loses neither, and no content
        # (prompts, answers) can reach the stored document: records hold identities only.
        earlier = recorded(finding(attack="A", probe_run_id=1100), finding(attack="B"))
        latest = recorded(finding(attack="A", probe_run_id=1200), finding(attack="C"))
        run = tracked(attrs(target_id=1), 12).model_copy(
            update={"history": (result_of(11, failed=2),)}
        )
        persisted(store, a=run)
        with store.lock("status"):
            store.recover()
            for record in [
                JournalRecord(op="result", key="a", test_run_id=12, result=result_of(12, failed=2)),
                JournalRecord(op="findings", key="a", test_run_id=12, findings=latest),
                JournalRecord(op="findings", key="a", test_run_id=11, findings=earlier),
            ]:
                store.append(record)
            # Seen by a reader before anything is folded into the document.
            seen = make_store().read().runs["a"]
            assert seen.result is not None and seen.result.findings == latest
            # The command "crashes" here: the next one recovers the journal.
        survivor = make_store()
        with survivor.lock("status"):
            recovered = survivor.recover()
            assert survivor.journal() == []
        stored = make_store().read().runs["a"]
        assert stored == recovered.runs["a"]
        assert stored.result is not None and stored.result.findings == latest
        assert [r.findings for r in stored.history] == [earlier]
        raw = self.read_raw(location)
        assert raw is not None
        document = json.loads(raw)["runs"]["a"]
        rows = document["result"]["findings"]["records"]  # rows of ROW_FIELDS
        assert sorted(r[ROW_FIELDS.index("attack")] for r in rows) == ["A", "C"]
        # A reread replaces what was recorded, through the journal again.
        fewer = recorded(finding(attack="A", probe_run_id=1200))
        reread = JournalRecord(op="findings", key="a", test_run_id=12, findings=fewer)
        with store.lock("findings"):
            base = store.recover()
            store.append(reread)
            store.persist(fold(base, [reread]))
        final = make_store().read().runs["a"]
        assert final.result is not None and final.result.findings == fewer
        assert [r.findings for r in final.history] == [earlier]

    def test_cancel_done_removes_the_run(self, store: StateStore) -> None:
        persisted(store, a=tracked(attrs(target_id=1), 11), b=tracked(attrs(target_id=2), 22))
        with store.lock("apply"):
            state = store.recover()
            store.append(JournalRecord(op="cancel-intent", key="a", test_run_id=11))
            store.append(JournalRecord(op="cancel-done", key="a", test_run_id=11))
            store.append(JournalRecord(op="cancel-intent", key="b", test_run_id=22))
            store.append(JournalRecord(op="cancel-failed", key="b", test_run_id=22))
            assert set(store.read().runs) == {"b"}
            store.persist(store.read())
        assert set(store.read().runs) == {"b"}
        assert store.read().serial == state.serial + 1
        assert store.journal() == []

    def test_leftover_journal_must_be_recovered_before_writing(
        self, store: StateStore, make_store: StoreFactory
    ) -> None:
        with store.lock("apply"):
            store.recover()
            store.append(JournalRecord(op="trigger-intent", key="a", attributes=attrs(target_id=1)))
        other = make_store()
        with other.lock("apply"):
            # A caller's bug (every command recovers first), so not a user-facing StateError.
            with pytest.raises(RuntimeError, match=r"recover\(\)"):
                other.persist(State.new())
            with pytest.raises(RuntimeError, match=r"recover\(\)"):
                other.append(
                    JournalRecord(op="trigger-intent", key="b", attributes=attrs(target_id=2))
                )
            assert set(other.recover().runs) == {"a"}

    # --- locking ---------------------------------------------------------------------------

    def test_writing_needs_the_lock(self, store: StateStore) -> None:
        with pytest.raises(LockError, match="needs the state lock"):
            store.append(JournalRecord(op="trigger-intent", key="a", attributes=attrs(target_id=1)))
        with pytest.raises(LockError, match="needs the state lock"):
            store.persist(State.new())
        with pytest.raises(LockError, match="needs the state lock"):
            store.recover()
        with store.lock("apply"), pytest.raises(LockError, match="already holds"), store.lock("x"):
            pass
        assert not store.exists()

    def test_lock_is_exclusive_and_names_the_holder(
        self, store: StateStore, make_store: StoreFactory
    ) -> None:
        other = make_store()
        with store.lock("apply") as held:
            assert other.lock_holder() == held
            with pytest.raises(LockError) as caught, other.lock("destroy", timeout=0):
                pass
            message = str(caught.value)
            assert held.id in message
            assert "apply" in message
            assert "--lock-timeout" in message
            # The command to paste, quoted as the tool quotes commands, location shell-quoted.
            assert f"`reconciler force-unlock {held.id} --state {shlex.quote(other.location)}`" in (
                message
            )
        with other.lock("destroy") as second:
            assert second.id != held.id
            assert other.stale_lock is None, "a released lock is not stale"

    def test_lock_waits_up_to_the_timeout(
        self, store: StateStore, make_store: StoreFactory
    ) -> None:
        other = make_store()
        with store.lock("apply"):
            start = time.monotonic()
            with pytest.raises(LockError, match=r"waited 0\.3s"), other.lock("x", timeout=0.3):
                pass
            assert time.monotonic() - start >= 0.3
        release = threading.Event()

        def hold() -> None:
            with store.lock("apply"):
                release.wait(60)
                time.sleep(0.3)

        holder = threading.Thread(target=hold)
        holder.start()
        try:
            wait_until(lambda: store.lock_holder() is not None, message="the holder never locked")
            # Timed from before the release: the holder keeps the lock 0.3 s after it, so the
            # wait is at least that long however late this thread runs again.
            start = time.monotonic()
            release.set()
            with other.lock("apply", timeout=60):
                assert time.monotonic() - start >= 0.3
        finally:
            release.set()
            holder.join()

    def test_force_unlock(self, store: StateStore, make_store: StoreFactory) -> None:
        other = make_store()
        with pytest.raises(LockError):
            other.force_unlock("nope")
        with store.lock("apply") as held:
            with pytest.raises(LockError) as caught:
                other.force_unlock("0000-wrong")
            command = f"`reconciler force-unlock {held.id} --state {shlex.quote(other.location)}`"
            assert command in str(caught.value)
            assert other.lock_holder() == held, "a wrong id removes nothing"
            assert other.force_unlock(held.id) == held
            assert other.lock_holder() is None
            # The hung holder no longer blocks anyone, and can write nothing more.
            with other.lock("apply", timeout=0):
                assert make_store().lock_holder() is not None
                with pytest.raises(StateError):
                    store.append(
                        JournalRecord(op="trigger-intent", key="a", attributes=attrs(target_id=1))
                    )
                with pytest.raises(StateError):
                    store.persist(State.new())
                assert other.journal() == []
                assert not other.exists()

    def test_lock_of_a_killed_process_is_taken_over_and_reported(
        self, location: str, make_store: StoreFactory
    ) -> None:
        store = make_store()
        child = subprocess.Popen(
            [sys.executable, "-c", _HOLD_LOCK, location],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None
            lock_id = child.stdout.readline().strip()
            assert lock_id, "the child did not take the lock"
            with pytest.raises(LockError, match=lock_id), store.lock("apply", timeout=0):
                pass
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            if child.stdout is not None:
                child.stdout.close()
        with store.lock("apply", timeout=5):
            assert store.stale_lock is not None
            assert store.stale_lock.id == lock_id
            assert store.stale_lock.pid == child.pid

    # --- integrity -------------------------------------------------------------------------

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            (b'{"version": 1, "lineage": "x", "ser', r"line 1, column \d+"),
            (b"\xff\xfe not text", "UTF-8"),
            (b"[1, 2]", "JSON object"),
            (b'{"lineage": "x", "serial": 1, "runs": {}}', "version"),
            (
                b'{"version": 1, "lineage": "x", "serial": 1, '
                b'"runs": {"a": {"testRunId": 1, "triggeredAt": "t", "attributes": '
                b'{"workspaceId": 1, "targetId": "42", "probeIds": [1], "name": "n"}}}}',
                r"runs\.a\.attributes\.targetId",
            ),
        ],
        ids=["truncated", "binary", "not-object", "no-version", "hand-broken-field"],
    )
    def test_corrupt_state_is_refused_and_left_untouched(
        self, store: StateStore, location: str, raw: bytes, expected: str
    ) -> None:
        self.write_raw(location, raw)
        with pytest.raises(StateCorruptError, match=expected):
            store.read()
        with store.lock("apply"):
            with pytest.raises(StateCorruptError):
                store.recover()
            with pytest.raises(StateCorruptError):
                store.persist(State.new())
        assert self.read_raw(location) == raw

    def test_newer_format_version_is_refused_and_left_untouched(
        self, store: StateStore, location: str
    ) -> None:
        raw = (
            json.dumps({"version": 99, "lineage": "x", "serial": 3, "runs": {}, "new": 1}) + "\n"
        ).encode()
        self.write_raw(location, raw)
        with pytest.raises(StateVersionError, match="newer reconciler"):
            store.read()
        with store.lock("apply"), pytest.raises(StateVersionError):
            store.persist(State.new())
        assert self.read_raw(location) == raw

    def test_older_format_version_is_upgraded_on_persist(
        self, store: StateStore, location: str
    ) -> None:
        old = (DATA / "v0.json").read_bytes()
        self.write_raw(location, old)
        state = store.read()
        assert state.version == STATE_VERSION
        assert state.runs["chatbot-jailbreak"].test_run_id == 501
        assert self.read_raw(location) == old, "read() must never write"
        with store.lock("apply"):
            store.persist(store.recover())
        assert self.read_raw(location) == (DATA / "v0-upgraded.json").read_bytes()
        assert self.read_backup(location) == old

    def test_backup_holds_the_previous_state(self, store: StateStore, location: str) -> None:
        first = persisted(store, a=tracked(attrs(target_id=1), 11))
        second = persisted(store, b=tracked(attrs(target_id=2), 22))
        backup = self.read_backup(location)
        assert backup is not None
        assert decode_state(backup, "backup") == first
        assert self.read_raw(location) == encode_state(second)
