"""Markdown for GitHub comments and summaries: the size limit and the escaping that every
Markdown view shares (the plan's PR comment, the results' step summary). Text put in a table
cell or a code span must never end it early."""

from __future__ import annotations

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
