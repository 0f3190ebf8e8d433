"""End-to-end fixtures: the simulator as a real server on loopback, and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

from reconciler.cli import main
from reconciler.older_env import OLDER_NAMES
from reconciler.simulator.config import KeyGrant, SimulatorConfig
from reconciler.simulator.server import SimulatorServer
from reconciler.simulator.store import ReceivedRequest
from tests.e2e.harness import SPEC_TWO_RUNS as TWO_RUNS
from tests.e2e.harness import process_env

API_KEY = "e2e-secret-key-0123456789"
#: The two-run spec most e2e tests start from (kept with the helpers that apply it).
SPEC_TWO_RUNS = TWO_RUNS
#: What a developer's shell may set that would change a command run in-process.
OWN_VARIABLES = (*OLDER_NAMES, *OLDER_NAMES.values())
LIMITED_KEY = "e2e-limited-key-9876543210"
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def all(self) -> str:
        return self.out + self.err


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    config = SimulatorConfig(
        keys={
            API_KEY: KeyGrant(label="e2e"),
            LIMITED_KEY: KeyGrant(label="limited", workspaces=frozenset({1})),
        },
        start_after=0.0,
    )
    with SimulatorServer(config) as server:
        yield server


class Runner(Protocol):
    """``run("plan", ...)``: the CLI in-process, in the test's project directory."""

    def __call__(self, *args: str, env: dict[str, str | None] | None = None) -> Result: ...


class Cli:
    """Runs ``reconciler`` in-process (fast) or as a subprocess (real), in a temp project."""

    def __init__(self, root: Path, sim: SimulatorServer | None) -> None:
        self.root = root
        self.env = {
            "SPLX_API_KEY": API_KEY,
            "RECONCILER_STATE": str(root / "state" / "reconciler.state.json"),
            "NO_COLOR": "1",
        }
        if sim is not None:
            self.env["SPLX_API_URL"] = sim.url
        self._children: list[subprocess.Popen[str]] = []

    def __enter__(self) -> Cli:
        return self

    def __exit__(self, *_exc: object) -> None:
        """Kill what ``popen`` started and a failed test left running."""
        for child in self._children:
            if child.poll() is None:
                child.kill()
            child.communicate()

    @property
    def state_path(self) -> Path:
        return Path(self.env["RECONCILER_STATE"])

    def state(self) -> dict[str, object]:
        return json.loads(self.state_path.read_text())  # type: ignore[no-any-return]

    def write_spec(self, name: str, text: str) -> Path:
        path = self.root / "specs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def __call__(
        self,
        *args: str,
        env: dict[str, str | None] | None = None,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> Result:
        merged = {**self.env, **(env or {})}
        with monkeypatch.context() as m:
            m.chdir(self.root)
            for key in (*OWN_VARIABLES, "RECONCILER_STATE", "NO_COLOR"):
                m.delenv(key, raising=False)
            for key, value in merged.items():
                if value is not None:
                    m.setenv(key, value)
            capsys.readouterr()
            with pytest.raises(SystemExit) as exit_info:
                main(list(args))
            captured = capsys.readouterr()
        code = exit_info.value.code
        return Result(int(code) if isinstance(code, int) else 1, captured.out, captured.err)

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "reconciler", *args]

    def proc_env(self, env: dict[str, str | None] | None = None) -> dict[str, str]:
        """The environment of a real process: this test's settings over the caller's."""
        return process_env({**self.env, **(env or {})})

    def proc(
        self,
        *args: str,
        env: dict[str, str | None] | None = None,
        timeout: float = 60,
        stdin: str | None = None,
    ) -> Result:
        done = subprocess.run(
            self.argv(*args),
            cwd=self.root,
            env=self.proc_env(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            input=stdin if stdin is not None else "",
            check=False,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def popen(self, *args: str, env: dict[str, str | None] | None = None) -> subprocess.Popen[str]:
        """``reconciler ARGS`` started in the background (to kill it, or run two at once)."""
        child = subprocess.Popen(
            self.argv(*args),
            cwd=self.root,
            env=self.proc_env(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._children.append(child)
        return child


@pytest.fixture
def cli(tmp_path: Path, sim: SimulatorServer) -> Iterator[Cli]:
    with Cli(tmp_path, sim) as project:
        yield project


@pytest.fixture
def run(cli: Cli, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Runner:
    """The ``cli`` fixture's project, run in-process."""

    def invoke(*args: str, env: dict[str, str | None] | None = None) -> Result:
        return cli(*args, env=env, monkeypatch=monkeypatch, capsys=capsys)

    return invoke


def api_requests(sim: SimulatorServer) -> list[ReceivedRequest]:
    """The API requests the simulator received (not its own inspection endpoints)."""
    return [r for r in sim.requests() if r.path.startswith("/api/")]


def api_changes(sim: SimulatorServer) -> list[ReceivedRequest]:
    """The API requests that change something on the platform (triggers and cancels), not
    the status reads of a refresh."""
    return [r for r in api_requests(sim) if r.method != "GET"]
