"""Untrusted text made safe for a SARIF message: one line for names, cut blocks for content.

Everything a finding carries came from the API (probe names, attack names, the attack prompt
and the target's answer): an attacker's text by design. Before it goes into a SARIF file:

- characters no reader should get are replaced by U+FFFD: C0 and C1 control characters (but
  tab and newline in content), DEL, lone surrogates (not encodable as UTF-8, so ``json``
  would write them escaped and some readers reject the file), noncharacters, and the
  bidirectional overrides and isolates that can make text read differently from what it is
  (CVE-2021-42574, "Trojan Source");
- names become one line, blanks collapsed, at most ``NAME_LIMIT`` characters;
- content is cut at the caller's limit, and the cut is said;
- ``\\``, ``[`` and ``]`` are escaped with a backslash: in a SARIF message ``[text](1)`` is a
  link (SARIF 2.1.0, 3.11.6), and an attack named ``[click](https://...)`` must stay text.

JSON escaping (quotes, backslashes) is ``json.dumps``'s job, after this.
"""

from __future__ import annotations

import re
from typing import Final

#: Names (probe, attack, variation, strategy, red teamer, test case id) longer than this are
#: cut: an alert title is read at a glance, and the name is never the evidence.
NAME_LIMIT: Final = 200
ELLIPSIS: Final = "\u2026"

_NOT_TEXT: Final = (
    "\x00-\x08\x0b-\x1f\x7f-\x9f"  # C0 but tab and newline, DEL, C1
    "\ud800-\udfff"  # lone surrogates
    "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"  # bidi marks, embeddings, overrides
    "\ufdd0-\ufdef\ufffe\uffff"  # noncharacters
)
_BAD_IN_BLOCK: Final = re.compile(f"[{_NOT_TEXT}]")
#: In a name, tab and newline are not allowed either (they are turned into blanks first).
_BAD_IN_NAME: Final = re.compile(f"[{_NOT_TEXT}\t\n]")
_LINK_SYNTAX: Final = re.compile(r"([\\\[\]])")


def _plain(text: str) -> bool:
    # Most names are printable ASCII without brackets: skip the regular expressions for them
    # (10,000 findings carry about 60,000 names).
    return (
        text.isascii()
        and text.isprintable()
        and "[" not in text
        and "]" not in text
        and "\\" not in text
    )


def one_line(value: object, limit: int = NAME_LIMIT) -> str:
    """A name as one line of message text: cleaned, blanks collapsed, cut, link-escaped."""
    text = str(value)
    if _plain(text) and len(text) <= limit and "  " not in text:
        return text
    text = " ".join(_BAD_IN_NAME.sub("\ufffd", " ".join(text.split())).split())
    if len(text) > limit:
        text = text[: limit - 1] + ELLIPSIS
    return escape_links(text)


def clean_name(value: object, limit: int = NAME_LIMIT) -> str:
    """A name for a JSON property (no link syntax there, so no backslashes added)."""
    text = str(value)
    if text.isascii() and text.isprintable() and len(text) <= limit:
        return text
    text = " ".join(_BAD_IN_NAME.sub("\ufffd", " ".join(text.split())).split())
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def block(value: str, limit: int) -> tuple[str, bool]:
    """Content as message text: cleaned, newlines kept (``\\r\\n`` as ``\\n``), cut at
    ``limit`` characters, link-escaped. Returns the text and whether it was cut."""
    cut = len(value) > limit
    # Cut before cleaning: a 10 MB prompt is never scanned whole.
    text = value[:limit].replace("\r\n", "\n").replace("\r", "\n")
    text = _BAD_IN_BLOCK.sub("\ufffd", text)
    return escape_links(text), cut


def escape_links(text: str) -> str:
    """``\\``, ``[`` and ``]`` preceded by a backslash: SARIF's embedded-link syntax off."""
    if "[" not in text and "]" not in text and "\\" not in text:
        return text
    return _LINK_SYNTAX.sub(r"\\\1", text)
