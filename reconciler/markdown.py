"""Markdown for GitHub comments and summaries: the size limit and the escaping that every
Markdown view shares (the plan's PR comment, the results' step summary). Text put in a table
cell or a code span must never end it early."""

from __future__ import annotations

from collections.abc import Sequence

#: GitHub's limit for a comment or a step summary is 65,536 characters; leave room for a header.
MARKDOWN_LIMIT = 60_000


def longest_backtick_run(text: str) -> int:
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    return longest


def md_code(text: str) -> str:
    # Pipes break table cells even inside code spans; backticks need a longer delimiter.
    text = text.replace("|", "\\|")
    ticks = "`" * (longest_backtick_run(text) + 1)
    pad = " " if "`" in text else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def md_text(text: str) -> str:
    return md_html(text).replace("|", "\\|")


def md_html(text: str) -> str:
    import html  # only the Markdown rendering needs it

    return html.escape(text, quote=False)


def utf16_units(text: str) -> int:
    """Length in UTF-16 code units: what GitHub's limit and JavaScript's ``length`` count."""
    return len(text.encode("utf-16-le")) // 2


def fit_blocks(text: str, blocks: Sequence[str], budget: int) -> tuple[str, int]:
    """``text`` followed by as many of ``blocks`` (each on a new line) as fit in ``budget``
    UTF-16 units, in order; and how many were kept. Sizes are summed as blocks are added:
    measuring the growing text again would be quadratic."""
    used = utf16_units(text)
    parts = [text]
    for block in blocks:
        size = 1 + utf16_units(block)
        if used + size > budget:
            break
        parts.append("\n" + block)
        used += size
    return "".join(parts), len(parts) - 1
