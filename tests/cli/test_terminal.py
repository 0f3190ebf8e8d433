"""The CLI on a real terminal (a pseudo-terminal): approval prompt, colour, live progress."""

from __future__ import annotations

import os
import select
import subprocess
import time

import pytest

from reconciler.simulator.server import SimulatorServer
from tests.e2e.conftest import SPEC_TWO_RUNS, Cli

PROMPT = "Enter a value: "
#: A terminal user's environment: colour allowed, not in CI.
TTY_ENV: dict[str, str | None] = {"NO_COLOR": None, "CI": None, "TERM": "xterm-256color"}


def run_in_pty(
    cli: Cli, *args: str, answer: str | None = None, env: dict[str, str | None] | None = None
) -> tuple[int, str]:
    """Run the CLI with stdin, stdout and stderr on one terminal; type ``answer`` at the
    prompt. Returns the exit code and everything the terminal showed."""
    main, child = os.openpty()
    proc = subprocess.Popen(
        cli.argv(*args),
        cwd=cli.root,
        env=cli.proc_env({**TTY_ENV, **(env or {})}),
        stdin=child,
        stdout=child,
        stderr=child,
        close_fds=True,
    )
    os.close(child)
    screen = b""
    answered = False
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(main, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                screen += chunk
            if answer is not None and not answered and PROMPT.encode() in screen:
                os.write(main, answer.encode() + b"\n")
                answered = True
            if not ready and proc.poll() is not None:
                break
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(main)
    return code, screen.decode().replace("\r\n", "\n")


def test_apply_on_a_terminal_asks_and_yes_applies(cli: Cli, sim: SimulatorServer) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    code, screen = run_in_pty(cli, "apply", answer="yes")
    assert code == 0, screen
    assert "Do you want to perform these actions?" in screen
    assert "Only 'yes' will be accepted" in screen
    assert len(sim.runs()) == 2
    assert screen.index("Plan: 2 to trigger") < screen.index(PROMPT)
    assert screen.index(PROMPT) < screen.index("Apply complete!")


@pytest.mark.parametrize("answer", ["no", "y", "YES", ""])
def test_apply_on_a_terminal_aborts_on_anything_but_yes(
    cli: Cli, sim: SimulatorServer, answer: str
) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    code, screen = run_in_pty(cli, "apply", answer=answer)
    assert code == 1, screen
    assert "apply cancelled: nothing was sent" in screen
    assert sim.runs() == []
    assert not cli.state_path.exists()


def test_destroy_on_a_terminal_asks_before_cancelling(cli: Cli, sim: SimulatorServer) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    assert cli.proc("apply", "--auto-approve").code == 0
    code, screen = run_in_pty(cli, "destroy", answer="no")
    assert code == 1
    assert "Do you want to cancel every tracked run?" in screen
    assert "Canceled" not in {r["status"] for r in sim.runs()}
    code, screen = run_in_pty(cli, "destroy", answer="yes")
    assert code == 0, screen
    assert {r["status"] for r in sim.runs()} == {"Canceled"}


def test_colour_on_a_terminal_and_never_with_no_color(cli: Cli, sim: SimulatorServer) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    code, coloured = run_in_pty(cli, "plan")
    assert code == 0
    assert "\x1b[32m+\x1b[0m" in coloured
    for env, args in (({"NO_COLOR": "1"}, ()), ({}, ("--no-color",)), ({"TERM": "dumb"}, ())):
        code, plain = run_in_pty(cli, "plan", *args, env=env)
        assert code == 0
        assert "\x1b[" not in plain, (env, args)


def test_live_progress_on_a_terminal_ends_its_line(cli: Cli, sim: SimulatorServer) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    code, screen = run_in_pty(cli, "apply", "--auto-approve", env={"NO_COLOR": "1"})
    assert code == 0, screen
    assert "\r\x1b[2K2/2 done, 0 failed, 0 in flight" in screen
    # The final status line is ended before the summary starts, on a line of its own.
    status_end = screen.rindex("in flight")
    summary = screen.index("Apply complete!")
    assert "\n" in screen[status_end:summary]
    assert "triggered (testRunId" not in screen  # no per-operation lines on a terminal


def test_ci_on_a_terminal_still_gets_plain_lines(cli: Cli, sim: SimulatorServer) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    code, screen = run_in_pty(cli, "apply", "--auto-approve", env={"CI": "true"})
    assert code == 0, screen
    assert "in flight" not in screen
    assert screen.count("triggered (testRunId") == 2


def test_status_shows_a_reading_line_on_a_terminal_and_erases_it(
    cli: Cli, sim: SimulatorServer
) -> None:
    cli.write_spec("runs.yaml", SPEC_TWO_RUNS)
    code, _ = run_in_pty(cli, "apply", "--auto-approve", env={"NO_COLOR": "1"})
    assert code == 0
    # Every answer takes longer than the line's delay, so the line is drawn at least once.
    sim.set_faults(latency=0.5)
    code, screen = run_in_pty(cli, "status", "--parallelism", "1", env={"NO_COLOR": "1"})
    assert code == 0, screen
    assert "\r\x1b[2KReading run status: 1/2" in screen
    drawn = screen.rindex("Reading run status:")
    # The line is erased before the results start, so they begin at the line's start.
    assert screen.index("\r\x1b[2K", drawn) < screen.index("chatbot-jailbreak: Running")
    piped = cli.proc("status")
    assert "Reading run status" not in piped.all  # never in a pipe or a log
