"""Untrusted text made inert for GitHub Markdown: a value from the API (an attack name, a probe
name, a prompt) renders as the characters it holds, never as markup, a link or a mention.

How GitHub renders a comment or a step summary, and what each rule below answers:

- Markdown first (CommonMark with GFM tables, autolinks, strikethrough and ``$`` math). Every
  character that could start markup is written as a numeric character reference: CommonMark
  never reads a reference as markup (``&#96;`` is a backtick that opens no code span, ``&#124;``
  a pipe that splits no table cell, ``&lt;`` a ``<`` that opens no tag), and the same text is
  right inside the HTML blocks the views use (``<summary>``, ``<pre>``). A backslash is one too,
  or it would escape the ``&`` of the next reference.
- Then GitHub links mentions (``@name``, ``@org/team``), references (``#123``) and bare URLs in
  the rendered text, after the references above were decoded, so those are broken with an
  invisible U+2060 WORD JOINER after ``@``, ``#``, the ``:`` of ``://`` and a ``www`` before a
  dot: the reader sees
  the same text, nobody is pinged and nothing is linked.
- Control characters (and the bidirectional overrides that reorder what a reviewer sees) are
  dropped; in a table cell a line break becomes a space, since a raw one would end the table.
"""

from __future__ import annotations

import re
from typing import Final

JOINER: Final = "\u2060"

_REFERENCES: Final = {
    **{ord(char): f"&#{ord(char)};" for char in "\\`*_[]()!~|${}"},  # markup, cells, math
    **{ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;", ord('"'): "&quot;"},
}
# C0 and C1 controls but tab and line breaks, and the bidirectional formatting characters.
_DROPPED: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_LINKING: Final = re.compile(r"[@#]|:(?=//)|(?i:www)(?=\.)", re.ASCII)
_BREAKS: Final = re.compile(r"\r\n?|\n")


def md_inert(text: str) -> str:
    """``text`` for a Markdown table cell or an HTML element's text: shown as is, on one line."""
    return _inert(_BREAKS.sub(" ", text).replace("\t", " "))


def md_pre(text: str) -> str:
    """``text`` for the inside of a ``<pre>`` block: line breaks kept. It holds no ``<``, so it
    can never close the block, and no blank-line rule ends a ``<pre>`` block in CommonMark."""
    return _inert(_BREAKS.sub("\n", text))


def _inert(text: str) -> str:
    # The joiners go in before the references, whose own ``#`` must stay whole.
    text = _LINKING.sub(lambda m: m.group(0) + JOINER, _DROPPED.sub("", text))
    return text.translate(_REFERENCES)
