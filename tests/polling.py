"""Bounded waiting for a condition another thread or process brings about."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(
    condition: Callable[[], bool], *, timeout: float = 30.0, message: str = "timed out waiting"
) -> None:
    """Return once ``condition()`` is true; fail the test after ``timeout`` seconds.

    Polling (rather than sleeping a fixed time) keeps the test fast when the condition comes
    early and keeps it correct on a loaded machine where it comes late.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{message} (after {timeout} s)"
        time.sleep(0.005)
