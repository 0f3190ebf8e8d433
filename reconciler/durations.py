"""Durations as specs write them (``rerunAfter: 7d``): parsing and the short form shown back.

Kept free of heavy imports: the spec schema and the planner both use it.
"""

from __future__ import annotations

import re
from typing import Final

#: Seconds per unit, largest first (the order a duration is written in).
UNITS: Final = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))
#: Compiled on first use (``re`` keeps it): most commands parse no duration.
_DURATION = r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$"
EXAMPLES: Final = "30m, 12h, 7d or 1d12h"


def parse_duration(text: str) -> int | None:
    """``7d`` → 604800, ``1d12h`` → 129600; None for anything else (empty, ``7 days``, ``0s``,
    ``1.5h``, units out of order). Whole seconds: a schedule needs no finer grain."""
    match = re.match(_DURATION, text.strip())
    if match is None or not any(match.groups()):
        return None
    pairs = zip(match.groups(), UNITS, strict=True)
    seconds = sum(int(value) * scale for value, (_, scale) in pairs if value)
    return seconds or None


def format_duration(seconds: int) -> str:
    """The exact short form: 604800 → ``7d``, 129600 → ``1d12h``, 90 → ``1m30s``."""
    parts = []
    left = max(0, int(seconds))
    for unit, scale in UNITS:
        count, left = divmod(left, scale)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def format_age(seconds: float) -> str:
    """A rough age in its largest unit, rounded down: ``8d``, ``5h``, ``12m``, ``40s``."""
    whole = max(0, int(seconds))
    for unit, scale in UNITS:
        if whole >= scale or unit == "s":
            return f"{whole // scale}{unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def format_seconds(seconds: float) -> str:
    """``7s``, ``2m05s``, ``1h02m``: short enough for a status line."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
