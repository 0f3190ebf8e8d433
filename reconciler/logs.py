"""The package's loggers, and the command's logging set-up, applied when something is logged.

A command's ``Session`` takes the ``reconciler`` logger over for the command: its level, its
handler, no propagation (``reconciler.commands.common``). Importing ``logging`` costs a command
about 10 M instructions (with ``string`` and ``traceback``, which it imports), and a plan at
the default level makes no record that level lets through. So in a process that has not
imported ``logging`` (the CLI's own), the set-up waits here (``take_over``) until a record
first passes its level, or until a module asks for a ``logger``; until then nothing was
logged, so nothing can tell the difference. Where ``logging`` is imported already (the tests, a
program embedding reconciler), the set-up is applied at once, as it always was.

That holds only if no record reaches a ``reconciler`` logger past this module: the package's
modules log through a ``Log``, or a ``logger`` they asked for here, never through a
``logging.getLogger`` of their own (``tests/test_logs.py``).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import logging

#: ``logging.DEBUG``, ``INFO``, ``WARNING`` and ``ERROR``: fixed by the standard library.
DEBUG: Final = 10
INFO: Final = 20
WARNING: Final = 30
ERROR: Final = 40

#: The set-up waiting for its first record, if any: its level, and what applies it.
_waiting: list[tuple[int, Callable[[], None]]] = []
#: Held while it is applied: a record of another thread waits for the set-up to be complete.
_applying = threading.Lock()


def take_over(level: int, apply: Callable[[], None]) -> None:
    """Have ``apply`` (a session's set-up of the ``reconciler`` logger at ``level``) run now
    where ``logging`` is imported, else before the first record that ``level`` lets through."""
    if "logging" in sys.modules or _waiting:
        # A set-up made while another waits (a session inside a session) comes after it, as
        # it always did: both are applied now, in order.
        _apply_waiting()
        apply()
    else:
        _waiting.append((level, apply))


def cancel(apply: Callable[[], None]) -> bool:
    """Drop the set-up ``apply`` if it is still waiting (its session ended before anything
    was logged); True when it was."""
    if _waiting and _waiting[0][1] == apply:
        _waiting.clear()
        return True
    return False


def logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)``, after the set-up waiting, if any."""
    import logging

    _apply_waiting()
    return logging.getLogger(name)


def _apply_waiting() -> None:
    if _waiting:
        with _applying:
            if _waiting:
                _waiting[0][1]()
                _waiting.clear()


class Log:
    """A module's logger, ``logging.getLogger(name)`` once it logs a record that the waiting
    set-up's level lets through; one it drops costs no import of ``logging``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def debug(self, msg: str, *args: object) -> None:
        self._log(DEBUG, msg, args)

    def info(self, msg: str, *args: object) -> None:
        self._log(INFO, msg, args)

    def warning(self, msg: str, *args: object) -> None:
        self._log(WARNING, msg, args)

    def _log(self, level: int, msg: str, args: tuple[object, ...]) -> None:
        waiting = _waiting[:1]  # a copy: another thread may apply the set-up meanwhile
        if waiting and level < waiting[0][0]:
            return  # the set-up's level drops it, as the logger would once set up
        # stacklevel 3: the record names the caller of debug/info/warning, not this module.
        logger(self.name).log(level, msg, *args, stacklevel=3)
