"""The local-file backend: the shared contract, plus what only files have."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from reconciler.errors import LineageError, LockError, StateCorruptError, StateError
from reconciler.state import LocalStateStore, open_store
from reconciler.state.codec import decode_state, encode_header, encode_record, encode_state
from reconciler.state.model import STATE_VERSION, JournalRecord, State, TrackedRun
from tests.factories import attrs, result_of, tracked
from tests.state.contract import (
    DATA,
    StateStoreContract,
    persisted,
    state_with,
)


class TestLocalStateStore(StateStoreContract):
    @pytest.fixture
    def location(self, tmp_path: Path) -> str:
        # A directory that does not exist yet: the first write creates it.
        return str(tmp_path / "state" / "reconciler.state.json")

    def write_raw(self, location: str, data: bytes) -> None:
        Path(location).parent.mkdir(parents=True, exist_ok=True)
        Path(location).write_bytes(data)

    def read_raw(self, location: str) -> bytes | None:
        path = Path(location)
        return path.read_bytes() if path.exists() else None

    def read_backup(self, location: str) -> bytes | None:
        path = Path(location + ".backup")
        return path.read_bytes() if path.exists() else None


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "reconciler.state.json"


@pytest.fixture
def store(path: Path) -> LocalStateStore:
    return LocalStateStore(path)


def golden_state() -> State:
    return State(
        lineage="0b6c1f0e-9a47-4d0e-8a51-8d9f4d2f7c3e",
        serial=3,
        runs={
            "chatbot-jailbreak": TrackedRun(
                test_run_id=9001,
                attributes=attrs(
                    workspace_id=7,
                    target_id=42,
                    probe_ids=(1, 2),
                    name="Nächtlicher Jailbreak-Lauf",
                ),
                triggered_at="2024-05-01T10:00:00Z",
            ),
            "agent-pii": TrackedRun(
                status="unknown",
                attributes=attrs(workspace_id=7, target_id=43, probe_ids=(1, 2), name="run 43"),
                triggered_at="2024-05-01T10:00:05Z",
                note="apply stopped before the API answered",
            ),
        },
    )


# --- the file format -------------------------------------------------------------------------


def golden_state_v2() -> State:
    """The golden state once its first run has ended, after an earlier run was replaced."""
    state = golden_state()
    run = state.runs["chatbot-jailbreak"]
    ended = run.model_copy(
        update={"result": result_of(9001, failed=1), "history": (result_of(8000, failed=0),)}
    )
    return state.model_copy(update={"runs": {**state.runs, "chatbot-jailbreak": ended}})


def test_a_version_1_state_reads_as_the_current_version_without_results() -> None:
    state = decode_state((DATA / "golden-v1.json").read_bytes(), "golden-v1")
    assert state.version == STATE_VERSION
    assert state == golden_state()
    assert all(run.result is None and run.history == () for run in state.runs.values())


def test_results_round_trip_through_the_file_format(store: LocalStateStore, path: Path) -> None:
    golden = (DATA / "golden-v2.json").read_bytes()
    # A version 2 file reads unchanged and is written back as version 3, nothing else moved.
    assert encode_state(golden_state_v2()) == golden.replace(b'"version": 2', b'"version": 3')
    assert decode_state(golden, "golden-v2") == golden_state_v2()
    # A run without results keeps the exact shape version 1 wrote (no "result": null).
    assert b'"result"' not in encode_state(golden_state())


def test_state_bytes_are_deterministic(store: LocalStateStore, path: Path) -> None:
    golden = encode_state(golden_state())
    assert golden == (DATA / "golden-v1.json").read_bytes().replace(
        b'"version": 1', b'"version": 3'
    )
    assert encode_state(decode_state(golden, "golden")) == golden
    with store.lock("test"):
        store.recover()
        store.persist(golden_state())
    assert path.read_bytes() == golden
    assert golden.endswith(b"}\n")


def test_persist_leaves_only_the_expected_files(store: LocalStateStore, path: Path) -> None:
    persisted(store, a=tracked(attrs(target_id=1), 11))
    with store.lock("apply"):
        store.recover()
        store.append(JournalRecord(op="trigger-intent", key="b", attributes=attrs(target_id=2)))
        store.append(JournalRecord(op="trigger-done", key="b", test_run_id=22))
        store.persist(store.read())
    assert sorted(p.name for p in path.parent.iterdir()) == [
        ".backups",
        "reconciler.state.json",
        "reconciler.state.json.backup",
    ]
    assert sorted(p.name for p in (path.parent / ".backups").iterdir()) == [
        "reconciler.state.json.serial-1"
    ]


def test_a_failed_rename_keeps_the_old_state(
    store: LocalStateStore, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    persisted(store, a=tracked(attrs(target_id=1), 11))
    before = path.read_bytes()

    real_replace = Path.replace

    def broken_replace(self: Path, target: Path) -> Path:
        if Path(target) == path:  # the backups go through; the new state does not
            raise OSError(28, "No space left on device")
        return real_replace(self, target)

    with store.lock("apply"):
        state = state_with(store.recover(), b=tracked(attrs(target_id=2), 22))
        monkeypatch.setattr(Path, "replace", broken_replace)
        with pytest.raises(StateError, match="No space left"):
            store.persist(state)
    assert path.read_bytes() == before
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_persist_and_append_fsync(store: LocalStateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    with store.lock("apply"):
        store.recover()
        synced.clear()
        store.append(JournalRecord(op="trigger-intent", key="a", attributes=attrs(target_id=1)))
        assert len(synced) >= 2, "journal created: its header and its directory entry"
        synced.clear()
        store.append(JournalRecord(op="trigger-done", key="a", test_run_id=11))
        assert len(synced) == 1, "one record, one fsync"
        synced.clear()
        store.persist(store.read())
        assert len(synced) >= 2, "the new state file and its directory"


def test_numbered_backups_are_bounded(path: Path) -> None:
    store = LocalStateStore(path, keep_backups=3)
    for n in range(6):
        persisted(store, **{f"k{n}": tracked(attrs(target_id=n), n)})
    names = sorted(p.name for p in (path.parent / ".backups").iterdir())
    assert names == [f"reconciler.state.json.serial-{n}" for n in (3, 4, 5)]
    assert decode_state((path.parent / ".backups" / names[-1]).read_bytes(), "b").serial == 5
    assert decode_state(path.read_bytes(), "s").serial == 6


# --- the journal -----------------------------------------------------------------------------


def test_a_torn_last_journal_line_is_ignored(store: LocalStateStore, path: Path) -> None:
    with store.lock("apply"):
        store.recover()
        store.append(JournalRecord(op="trigger-intent", key="a", attributes=attrs(target_id=1)))
        store.append(JournalRecord(op="trigger-done", key="a", test_run_id=11))
    journal = path.with_name(path.name + ".journal")
    with journal.open("ab") as f:
        f.write(b'{"op":"cancel-intent","key":"a","testR')
    reader = LocalStateStore(path)
    assert reader.read().runs["a"].test_run_id == 11
    assert any("incomplete last line" in note for note in reader.notes)
    with reader.lock("apply"):
        assert reader.recover().runs["a"].test_run_id == 11
    assert not journal.exists()


def test_a_broken_journal_line_in_the_middle_is_refused(store: LocalStateStore, path: Path) -> None:
    lineage = persisted(store, a=tracked(attrs(target_id=1), 11)).lineage
    journal = path.with_name(path.name + ".journal")
    raw = (
        encode_header(lineage, 1)
        + b'{"op":"trigger-intent","key":"b"\n'
        + encode_record(JournalRecord(op="trigger-done", key="b", test_run_id=2))
    )
    journal.write_bytes(raw)
    with pytest.raises(StateCorruptError, match="line 2"):
        store.read()
    with store.lock("apply"), pytest.raises(StateCorruptError):
        store.recover()
    assert journal.read_bytes() == raw


def test_a_journal_of_another_state_is_refused(store: LocalStateStore, path: Path) -> None:
    persisted(store, a=tracked(attrs(target_id=1), 11))
    state_bytes = path.read_bytes()
    journal = path.with_name(path.name + ".journal")
    raw = encode_header("another-lineage", 1) + encode_record(
        JournalRecord(op="cancel-done", key="a", test_run_id=11)
    )
    journal.write_bytes(raw)
    with pytest.raises(LineageError, match="another-lineage"):
        store.read()
    with store.lock("apply"), pytest.raises(LineageError):
        store.recover()
    assert journal.read_bytes() == raw
    assert path.read_bytes() == state_bytes


def test_a_journal_ahead_of_the_state_is_refused(store: LocalStateStore, path: Path) -> None:
    lineage = persisted(store, a=tracked(attrs(target_id=1), 11)).lineage
    path.with_name(path.name + ".journal").write_bytes(encode_header(lineage, 9))
    with pytest.raises(StateCorruptError, match="serial 9"):
        store.read()


def test_a_journal_without_its_state_is_refused(store: LocalStateStore, path: Path) -> None:
    persisted(store, a=tracked(attrs(target_id=1), 11))
    lineage = store.read().lineage
    path.unlink()
    path.with_name(path.name + ".journal").write_bytes(encode_header(lineage, 1))
    with pytest.raises(StateCorruptError, match="missing"):
        store.read()


def test_a_journal_already_folded_is_replayed_harmlessly(
    store: LocalStateStore, path: Path
) -> None:
    # A crash between the rename of the new state and the removal of the journal.
    with store.lock("apply"):
        base = store.recover()
        store.append(JournalRecord(op="cancel-intent", key="a", test_run_id=5))
        store.append(JournalRecord(op="trigger-intent", key="b", attributes=attrs(target_id=2)))
        store.append(JournalRecord(op="trigger-done", key="b", test_run_id=22))
        journal = path.with_name(path.name + ".journal").read_bytes()
        store.persist(store.read())
    after = path.read_bytes()
    path.with_name(path.name + ".journal").write_bytes(journal)
    with store.lock("apply"):
        assert store.recover().lineage == base.lineage
    assert path.read_bytes() == after


def test_concurrent_appends_are_all_durable_and_ordered_per_key(
    store: LocalStateStore, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads, keys_per_thread = 20, 25
    fsyncs = 0
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        nonlocal fsyncs
        fsyncs += 1
        real_fsync(fd)

    def work(worker: int) -> None:
        for n in range(keys_per_thread):
            key = f"w{worker}-k{n}"
            store.append(JournalRecord(op="trigger-intent", key=key, attributes=attrs(target_id=n)))
            store.append(JournalRecord(op="trigger-done", key=key, test_run_id=worker * 1000 + n))

    with store.lock("apply"):
        store.recover()
        monkeypatch.setattr(os, "fsync", counting_fsync)
        fsyncs = 0
        pool = [threading.Thread(target=work, args=(w,)) for w in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        # Every append returned, so every record must already be on disk: read it back
        # through another store, as a process that comes after a crash would.
        records = LocalStateStore(path).journal()
    appends = 2 * threads * keys_per_thread
    assert len(records) == appends
    position: dict[tuple[str, str], int] = {}
    for index, record in enumerate(records):
        position[(record.key, record.op)] = index
    for worker in range(threads):
        for n in range(keys_per_thread):
            key = f"w{worker}-k{n}"
            assert position[(key, "trigger-intent")] < position[(key, "trigger-done")]
    assert fsyncs <= appends, "never more than one fsync per append"
    folded = LocalStateStore(path).read()
    assert len(folded.runs) == threads * keys_per_thread
    assert all(run.status == "triggered" for run in folded.runs.values())


def test_concurrent_appenders_share_fsyncs(
    store: LocalStateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    fsyncs = 0
    real_fsync = os.fsync
    gate = threading.Barrier(20)

    def slow_fsync(fd: int) -> None:
        nonlocal fsyncs
        fsyncs += 1
        threading.Event().wait(0.01)  # a slow disk: others pile up behind this fsync
        real_fsync(fd)

    def work(worker: int) -> None:
        gate.wait()
        for n in range(5):
            store.append(
                JournalRecord(
                    op="trigger-intent", key=f"{worker}-{n}", attributes=attrs(target_id=n)
                )
            )

    with store.lock("apply"):
        store.recover()
        store.append(JournalRecord(op="trigger-failed", key="warm-up"))
        monkeypatch.setattr(os, "fsync", slow_fsync)
        pool = [threading.Thread(target=work, args=(w,)) for w in range(20)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
    assert fsyncs < 100 / 2, f"{fsyncs} fsyncs for 100 appends: no group commit"


# --- locks that only files have --------------------------------------------------------------


def test_releasing_a_force_unlocked_lock_keeps_the_new_holders(path: Path) -> None:
    first, second, third = LocalStateStore(path), LocalStateStore(path), LocalStateStore(path)
    cm = first.lock("apply")
    held = cm.__enter__()
    second.force_unlock(held.id)
    with second.lock("apply") as new:
        cm.__exit__(None, None, None)
        assert third.lock_holder() == new
        with pytest.raises(LockError, match=new.id), third.lock("apply"):
            pass


def test_a_dead_holders_unreadable_record_is_still_reported(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.with_name(path.name + ".lock").write_bytes(b'{"id": "abc", "oper')
    store = LocalStateStore(path)
    with store.lock("apply"):
        assert store.stale_lock is not None
        assert "unreadable" in store.stale_lock.since
    assert not path.with_name(path.name + ".lock").exists()


def test_force_unlock_of_an_unreadable_lock_says_what_to_do(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.with_name(path.name + ".lock").write_bytes(b"garbage")
    with pytest.raises(LockError, match="delete the file"):
        LocalStateStore(path).force_unlock("abc")


# --- open_store ------------------------------------------------------------------------------


def test_open_store_picks_the_local_backend(path: Path) -> None:
    store = open_store(str(path))
    assert isinstance(store, LocalStateStore)
    assert store.location == str(path)


def test_an_empty_leftover_journal_is_removed_without_creating_a_state(
    store: LocalStateStore, path: Path
) -> None:
    path.parent.mkdir(parents=True)
    journal = path.with_name(path.name + ".journal")
    journal.write_bytes(b"")
    assert store.read().runs == {}
    with store.lock("apply"):
        assert store.recover().runs == {}
    assert not journal.exists()
    assert not store.exists()
