"""Text from the API made safe for a terminal or a log: every value a test case carries is
untrusted (an attack prompt may hold escape sequences that rewrite a terminal), so control
characters are shown as escapes and long text is cut, saying so."""

from __future__ import annotations

import re
from typing import Final

# C0 and C1 controls and DEL; tab and newline included: a one-line field must stay one line.
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return {"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(char, f"\\u{ord(char):04x}")


def plain(text: str, limit: int | None = None) -> str:
    """``text`` on one line, controls escaped (``\\n``, ``\\u001b``), cut at ``limit``
    characters with the number of characters left out."""
    cut = ""
    if limit is not None and len(text) > limit:
        cut = f" [… {len(text) - limit:,} more characters cut]"
        text = text[:limit]
    return _CONTROL.sub(_escape, text) + cut
