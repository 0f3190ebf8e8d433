"""The cycle collector around one CLI command (reconciler.collector)."""

from __future__ import annotations

import gc
import subprocess
import sys
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


def test_the_process_entry_point_pauses_the_collector_for_a_short_command() -> None:
    probe = (
        "import gc, sys\n"
        "import reconciler.collector as c\n"
        "from reconciler.cli import main\n"
        "sys.argv = ['reconciler', '--version']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(gc.isenabled(), gc.get_freeze_count() > 0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert done.stdout.split()[-2:] == ["False", "True"]
