"""pydantic validation errors as one short line: ``field.path: problem; ...``.

Every reader of a file or body we did not write ourselves (state, journal, saved plan, API
answers) refuses bad input with the same summary, so this is its one definition. The spec
loader says more (lines, hints) but spells paths with the same ``field_path``.
pydantic is imported only for type checking: importing this module stays free.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError

Loc = Sequence[int | str]

#: How many problems a summary names before it only counts the rest.
MAX_LISTED = 3


def field_path(loc: Loc) -> str:
    """``('testRuns', 'x', 'probeIds', 1)`` → ``testRuns.x.probeIds[1]``."""
    text = ""
    for part in loc:
        # pydantic adds "[key]" to the location of a bad mapping key; the key itself says it.
        if part == "[key]":
            continue
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def describe_validation_error(err: ValidationError, *, whole: str = "<document>") -> str:
    """``runs.x.serial: Input should be a valid integer; and 2 more``, never quoting the input.

    ``whole`` names the place of a problem with the input as a whole (an empty location).
    """
    parts = [
        f"{field_path(error['loc']) or whole}: {error['msg']}"
        for error in err.errors(include_url=False, include_input=False)[:MAX_LISTED]
    ]
    more = err.error_count() - len(parts)
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)
