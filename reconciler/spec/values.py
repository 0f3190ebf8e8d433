"""A value as the user wrote it, for messages: shared by the spec models' validators and the
error messages built from them (apart, so that neither imports the other)."""

from __future__ import annotations

from typing import Any

_KINDS: tuple[tuple[type, str], ...] = (
    # bool before int: True is an int to Python, not to a spec file.
    (bool, "a boolean"),
    (int, "an integer"),
    (float, "a number with a fraction"),
    (str, "a string"),
)


def describe(value: Any) -> str:
    """A value as the user wrote it in YAML, with its type: ``true (a boolean)``."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, list | dict):
        return "a list" if isinstance(value, list) else "a mapping"
    shown = ("true" if value else "false") if isinstance(value, bool) else repr(value)
    kind = next((label for kind, label in _KINDS if isinstance(value, kind)), "a value")
    return f"{shown} ({kind})"
