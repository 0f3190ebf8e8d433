"""The cycle collector in a CLI process that lives for one command.

A ``plan`` spends most of its life importing (click, pydantic, PyYAML, reconciler's models)
and building objects that stay alive until it exits: tens of thousands of containers, none of
them garbage. The cycle collector walks all of them again at every full pass, and once more
while the interpreter shuts down; for a no-change plan of 1,000 runs that was about 45 ms of
0.24 s (docs/PERFORMANCE.md). So the process entry point (``reconciler.cli.main`` without
arguments) pauses the collector; reference counting still frees everything that is not a
cycle. Long-running work turns it back on first (``resume``): apply's requests and the
simulator's server create cycles by the thousand and must not grow without bound. Before the
interpreter exits, ``before_exit`` freezes what is alive, so the collector's passes during
shutdown skip it; the process's own command line ends with ``end_process``, which skips the
interpreter's teardown altogether. ``reconciler.entry`` pauses the collector before click,
PyYAML and pydantic are imported.

Code that calls ``main(argv)`` in-process (the tests) keeps its collector as it is: only the
process's own command line pauses it.
"""

from __future__ import annotations

import gc
from typing import NoReturn

#: Whether ``pause`` stopped the collector (and so ``resume`` may restart it): a one-item set
#: rather than a global flag, so the functions need no ``global`` statement.
_paused: set[bool] = set()


def pause() -> None:
    """Stop the collector for the rest of a short command (the process entry point only)."""
    if gc.isenabled():
        gc.disable()
        _paused.add(True)


def resume() -> None:
    """Turn the collector back on before long work, if ``pause`` stopped it.

    What is alive now (modules, models, the plan) lives until exit: it is frozen out of the
    collector's passes, so they cost only what the long work itself allocates.
    """
    if _paused:
        _paused.clear()
        gc.freeze()
        gc.enable()


def before_exit() -> None:
    """Spare the interpreter's shutdown a collection over everything still alive."""
    if _paused:
        gc.freeze()


#: What ``leave_to_exit`` was given: freed by nobody, since the process ends without teardown.
_left: list[object] = []


def leave_to_exit(*objects: object) -> None:
    """Let the end of the process drop ``objects`` instead of freeing them now.

    In the process's own command line (the collector paused, ``end_process`` to come), an
    object a command is done with is freed object by object for nothing: the operating
    system takes the memory back at once when the process ends. A plan of 1,000 runs spent
    about 14 M instructions freeing its node trees, desired set, state and plan. Elsewhere
    (``main(argv)`` in a test or an embedder) this does nothing, and they are freed as usual.
    """
    if _paused:
        _left.extend(objects)


def end_process(code: int) -> NoReturn:
    """End a CLI process once its command is done, skipping the interpreter's teardown.

    Teardown frees every object still alive, module by module (for a plan, about 11 M
    instructions) only for the operating system to take all the memory back at once. What the
    interpreter's exit does that matters is done here first: the functions registered with
    ``atexit`` (logging's flush; coverage's data file when a test measures the process) run,
    and stdout and stderr are flushed. A process with other threads still running takes the
    ordinary exit, which waits for them.
    """
    import atexit
    import os
    import sys

    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        sys.exit(code)
    # Not documented, but what the interpreter itself calls at exit (typeshed lists it).
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        # A reader that went away (`| head`), or a closed stream: the interpreter's own exit
        # reports that with 120, "unlikely to be confused with a non-error exit status".
        code = 120
    os._exit(code)
