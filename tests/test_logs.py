"""The session's logging set-up waits for the first record it lets through (``reconciler.logs``):
the same output as a set-up made at once, and no ``logging`` import for a command that logs
nothing past its level."""

from __future__ import annotations

import ast
import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler import logs

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "reconciler"

#: The modules that may import ``logging`` themselves: the facade, the session's set-up, and the
#: two that put filters or adapters on other libraries' loggers (httpx's, aiohttp's).
IMPORTS_LOGGING = {"logs.py", "commands/common.py", "api/client.py", "simulator/server.py"}

#: Runs in a fresh interpreter: a session, then records at each level, one with the API key.
#: ``logging`` is imported first only when the first argument says so (the set-up at once).
SCRIPT = """
import sys
if sys.argv[1] == "eager":
    import logging
from reconciler import logs
from reconciler.commands.common import Session, Settings

flags = {flag: True for flag in sys.argv[2:]}
session = Session(Settings(env={"SPLX_API_KEY": "sk-secret-1234"}, **flags))
log = logs.Log("reconciler.test")
log.debug("debug %s", 1)
log.info("info %s", "sk-secret-1234")
log.warning("warning %s", "sk-secret-1234")
session.close()
log.warning("after the session")
print("logging imported:", "logging" in sys.modules)
"""


def _run(mode: str, *flags: str) -> tuple[str, str]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode, *flags],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    return done.stdout, re.sub(r"\d\d:\d\d:\d\d", "HH:MM:SS", done.stderr)


@pytest.mark.parametrize(
    "flags", [(), ("verbose",), ("debug",), ("quiet",), ("quiet", "verbose")], ids=" ".join
)
def test_a_waiting_set_up_logs_what_one_made_at_once_does(flags: tuple[str, ...]) -> None:
    eager_out, eager_err = _run("eager", *flags)
    lazy_out, lazy_err = _run("lazy", *flags)
    assert lazy_err == eager_err
    assert eager_out == lazy_out == "logging imported: True\n"
    assert "sk-secret-1234" not in lazy_err
    assert lazy_err.endswith("after the session\n")  # the session's logger was given back


def test_the_expected_lines_for_the_default_level() -> None:
    _, err = _run("lazy")
    assert err == "HH:MM:SS WARNING warning ***\nafter the session\n"


def test_records_below_the_level_of_a_waiting_set_up_import_nothing() -> None:
    probe = (
        "import sys\n"
        "from reconciler import logs\n"
        "from reconciler.commands.common import Session, Settings\n"
        "session = Session(Settings(env={}))\n"
        "logs.Log('reconciler.test').info('dropped')\n"
        "session.close()\n"
        "print('logging' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert (done.stdout, done.stderr) == ("False\n", "")


def test_a_record_names_the_caller_not_the_facade(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="reconciler.test"):
        logs.Log("reconciler.test").info("here")
    [record] = caplog.records
    assert (record.pathname, record.funcName) == (
        __file__,
        "test_a_record_names_the_caller_not_the_facade",
    )


def _imports_logging(tree: ast.AST) -> bool:
    """An ``import logging`` that runs: anywhere but under ``if TYPE_CHECKING``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            continue
        if isinstance(node, ast.Import) and any(a.name == "logging" for a in node.names):
            return True
        if _imports_logging(node):
            return True
    return False


def _own_loggers(tree: ast.AST) -> list[int]:
    """Lines calling ``logging.getLogger`` for a ``reconciler`` logger (by name or __name__)."""
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "getLogger"
            and node.args
        ):
            name = node.args[0]
            if (isinstance(name, ast.Name) and name.id == "__name__") or (
                isinstance(name, ast.Constant)
                and isinstance(name.value, str)
                and name.value.startswith("reconciler")
            ):
                found.append(node.lineno)
    return found


def test_the_package_logs_through_the_facade_only() -> None:
    # A record past ``reconciler.logs`` could come before a waiting set-up is applied.
    importing, own = [], []
    for path in sorted(PACKAGE.rglob("*.py")):
        where = path.relative_to(PACKAGE).as_posix()
        tree = ast.parse(path.read_text())
        if _imports_logging(tree) and where not in IMPORTS_LOGGING:
            importing.append(where)
        if where != "logs.py":
            own += [f"{where}:{line}" for line in _own_loggers(tree)]
    assert importing == []
    assert own == []


def test_a_waiting_set_up_is_applied_once_by_the_first_record_it_lets_through(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # In-process ``logging`` is imported, so ``take_over`` applies at once: the waiting state
    # a fresh CLI process is in is put in place here by hand.
    applied: list[str] = []
    monkeypatch.setattr(logs, "_waiting", [(logs.WARNING, lambda: applied.append("set up"))])
    log = logs.Log("reconciler.test")
    with caplog.at_level(logging.DEBUG, logger="reconciler.test"):
        log.debug("dropped")
        log.info("dropped")
        assert applied == []
        log.warning("kept %d", 1)
        log.warning("kept %d", 2)
    assert applied == ["set up"]
    assert caplog.messages == ["kept 1", "kept 2"]


def test_a_set_up_cancelled_while_waiting_is_never_applied(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def set_up() -> None:
        raise AssertionError("applied")

    monkeypatch.setattr(logs, "_waiting", [(logs.WARNING, set_up)])
    assert not logs.cancel(lambda: None)  # another session's: left waiting
    assert logs.cancel(set_up)
    assert not logs.cancel(set_up)
    logs.Log("reconciler.test").warning("after")  # nothing waits any more


def test_a_second_set_up_applies_the_waiting_one_first(monkeypatch: pytest.MonkeyPatch) -> None:
    applied: list[str] = []
    monkeypatch.setattr(logs, "_waiting", [(logs.WARNING, lambda: applied.append("outer"))])
    logs.take_over(logs.INFO, lambda: applied.append("inner"))
    assert applied == ["outer", "inner"]
    assert logs._waiting == []
