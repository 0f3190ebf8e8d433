"""The cycle collector around one CLI command (reconciler.collector)."""

from __future__ import annotations

import gc
import subprocess
import sys
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler import collector
from reconciler.cli import main

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _collector_restored() -> Iterator[None]:
    yield
    collector._paused.clear()
    collector._left.clear()
    gc.unfreeze()
    gc.enable()


def test_pause_then_resume_turns_the_collector_back_on() -> None:
    collector.pause()
    assert not gc.isenabled()
    collector.resume()
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0  # what was alive is out of the collector's passes


def test_resume_leaves_a_collector_that_pause_did_not_stop_alone() -> None:
    gc.disable()  # someone else's choice, e.g. a program embedding reconciler
    collector.resume()
    assert not gc.isenabled()


def test_main_with_arguments_keeps_the_callers_collector() -> None:
    # Tests and embedders call main(argv) in-process: their collector must stay as it was.
    with pytest.raises(SystemExit):
        main(["--version"])
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def _python(probe: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
        timeout=120,
    )


def test_the_process_entry_point_pauses_the_collector_before_the_heavy_imports() -> None:
    # The console script's own process: the collector is off before click is imported, and
    # what is alive is frozen before the process ends (atexit still runs: end_process).
    probe = (
        "import atexit, gc, sys\n"
        "seen = {}\n"
        "class Spy:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        seen.setdefault(name, gc.isenabled())\n"
        "sys.meta_path.insert(0, Spy())\n"
        "from reconciler.entry import main\n"
        "sys.argv = ['reconciler', '--version']\n"
        "atexit.register(lambda: print(seen['click'], gc.isenabled(),\n"
        "                              gc.get_freeze_count() > 0))\n"
        "main()\n"
    )
    done = _python(probe)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-3:] == ["False", "False", "True"]


def test_end_process_runs_atexit_flushes_and_keeps_the_exit_code() -> None:
    probe = (
        "import atexit, sys\n"
        "from reconciler import collector\n"
        "atexit.register(lambda: print('atexit ran', file=sys.stderr))\n"
        "sys.stdout.write('buffered, not yet flushed')\n"
        "collector.end_process(3)\n"
        "print('never reached')\n"
    )
    done = _python(probe)
    assert done.returncode == 3
    assert done.stdout == "buffered, not yet flushed"
    assert done.stderr == "atexit ran\n"


def test_end_process_reports_output_it_could_not_write_as_the_interpreter_does() -> None:
    # `reconciler plan | head`: the reader is gone when the plan is flushed. Python's own exit
    # gives 120 when it cannot flush stdout; end_process keeps that, without a traceback.
    probe = (
        "import os, sys\n"
        "from reconciler import collector\n"
        "read, write = os.pipe()\n"
        "os.close(read)\n"
        "sys.stdout = os.fdopen(write, 'w')\n"
        "sys.stdout.write('a plan nobody reads')\n"
        "collector.end_process(0)\n"
    )
    done = _python(probe)
    assert done.returncode == 120
    assert "Traceback" not in done.stderr


def test_end_process_waits_for_other_threads_through_the_ordinary_exit(tmp_path: Path) -> None:
    done_file = tmp_path / "thread-finished"
    probe = (
        "import threading, time\n"
        "from reconciler import collector\n"
        "def work():\n"
        "    time.sleep(0.3)\n"
        f"    open({str(done_file)!r}, 'w').write('done')\n"
        "threading.Thread(target=work).start()\n"
        "collector.end_process(4)\n"
    )
    done = _python(probe)
    assert done.returncode == 4
    assert done_file.read_text() == "done"


def test_leave_to_exit_keeps_objects_only_for_the_process_command_line() -> None:
    class Tree:
        pass

    # In-process (tests, embedders): nothing is held, the object is freed as usual.
    tree = Tree()
    alive = weakref.ref(tree)
    collector.leave_to_exit(tree)
    del tree
    assert alive() is None
    # The process's own command (collector paused): left for the process's end.
    collector.pause()
    tree = Tree()
    alive = weakref.ref(tree)
    collector.leave_to_exit(tree)
    del tree
    assert alive() is not None
