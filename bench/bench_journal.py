"""Journal append throughput of the local backend, single- and multi-threaded.

    python bench/bench_journal.py [--appends N] [--threads T ...] [--dir DIR]

Each append is durable (fsynced) before it returns; with several threads, group commit lets
one fsync cover every line written while the previous one was running.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

from reconciler.records import RunAttributes
from reconciler.state.local import LocalStateStore
from reconciler.state.model import JournalRecord


def run(directory: Path, appends: int, threads: int) -> tuple[float, int]:
    store = LocalStateStore(directory / f"bench-{threads}.state.json")
    attributes = RunAttributes(workspace_id=1, target_id=2, probe_ids=(1, 2, 3), name="bench")
    fsyncs = 0
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        nonlocal fsyncs
        fsyncs += 1
        real_fsync(fd)

    per_thread = appends // threads

    def work(worker: int) -> None:
        for n in range(per_thread):
            store.append(
                JournalRecord(op="trigger-intent", key=f"w{worker}-{n}", attributes=attributes)
            )

    with store.lock("bench"):
        store.recover()
        os.fsync = counting_fsync  # type: ignore[assignment]
        try:
            pool = [threading.Thread(target=work, args=(w,)) for w in range(threads)]
            start = time.perf_counter()
            for thread in pool:
                thread.start()
            for thread in pool:
                thread.join()
            elapsed = time.perf_counter() - start
        finally:
            os.fsync = real_fsync
        store.persist(store.read())
    return elapsed, fsyncs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--appends", type=int, default=10_000)
    parser.add_argument("--threads", type=int, nargs="*", default=[1, 4, 20])
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for threads in args.threads:
            elapsed, fsyncs = run(Path(tmp), args.appends, threads)
            done = args.appends // threads * threads
            print(
                f"{threads:3d} threads: {done} appends in {elapsed:.2f}s = "
                f"{done / elapsed:,.0f} appends/s, {fsyncs} fsyncs "
                f"({done / max(fsyncs, 1):.1f} appends per fsync)"
            )


if __name__ == "__main__":
    main()
