"""The parts of ``wait`` checked before anything is read, and its progress view."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from reconciler.commands.outputs import check_writable
from reconciler.commands.waiting import WaitSettings, WaitView
from reconciler.errors import UsageError
from reconciler.reading.wait import StatusChange, WaitProgress
from reconciler.results.observation import Observation
from reconciler.ui import Console
from tests.factories import attrs, result_of, tracked


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (WaitSettings(interval=0), "--interval must be more than 0"),
        (WaitSettings(fmt="xml"), "--format xml: use text or json"),
        (WaitSettings(parallelism=0), "--parallelism must be at least 1"),
    ],
)
def test_bad_settings_are_refused_before_waiting(settings: WaitSettings, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        settings.check()


def test_a_junit_path_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is a directory; give a file name"):
        check_writable(str(tmp_path), "--junit")


def test_a_junit_path_in_a_directory_that_takes_no_file_is_refused() -> None:
    # /proc refuses new files even to root, unlike a chmod'ed directory: a real read-only one.
    if not Path("/proc/self").is_dir():
        pytest.skip("needs Linux /proc as a directory no one can create files in")
    with pytest.raises(UsageError, match="cannot write in /proc/self"):
        check_writable("/proc/self/junit.xml", "--junit")


def test_a_writable_junit_path_leaves_no_probe_file_behind(tmp_path: Path) -> None:
    assert check_writable(str(tmp_path / "junit.xml"), "--junit") == tmp_path / "junit.xml"
    assert list(tmp_path.iterdir()) == []


def _change(before: str | None, after: str) -> StatusChange:
    run = tracked(attrs(), 7)
    result = result_of(7, status=after, failed=1)
    return StatusChange("bot", before, after, Observation("bot", run, result, "api"))


def _progress() -> WaitProgress:
    return WaitProgress(
        total=3,
        ended=1,
        cases_done=25,
        cases_total=60,
        waited=125,
        rounds=4,
        requests=9,
        unreadable=1,
    )


def test_in_ci_each_status_change_is_one_line_and_nothing_is_redrawn() -> None:
    err = io.StringIO()
    view = WaitView(Console(out=io.StringIO(), err=err), live=False)
    view.progress = _progress
    view.changed(_change(None, "Running"))
    view.round(_progress())
    view.changed(_change("Running", "Finished"))
    view.finish()
    lines = err.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("bot: Running")
    assert lines[1].endswith("bot: Running → Finished (9 passed, 1 failed, 0 errored of 10)")
    assert "\r" not in err.getvalue()


def test_on_a_terminal_one_line_is_redrawn_and_ended_runs_get_their_own() -> None:
    err = io.StringIO()
    view = WaitView(Console(out=io.StringIO(), err=err), live=True)
    view.progress = _progress
    view.changed(_change(None, "Running"))  # not ended: only the live line says it
    view.round(_progress())
    view.changed(_change("Running", "Finished"))
    view.finish()
    text = err.getvalue()
    assert "waiting: 1/3 runs ended, 25 of 60 test cases, 1 not read, 2m05s" in text
    assert "bot: Running\n" not in text
    assert "\r\x1b[2K" in text and "Running → Finished" in text
    assert text.endswith("\r\x1b[2K")  # the line is erased for what comes next


def test_quiet_shows_no_progress() -> None:
    err = io.StringIO()
    view = WaitView(Console(out=io.StringIO(), err=err, quiet=True), live=True)
    view.progress = _progress
    view.changed(_change("Running", "Finished"))
    view.round(_progress())
    view.finish()
    assert err.getvalue() == ""
