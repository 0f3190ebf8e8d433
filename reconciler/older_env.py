"""The vendor's older environment variable names, read when today's are unset.

The SPLX CI templates of earlier years exported ``SPLXAI_API_KEY``, ``SPLXAI_API_URL`` and
``SPLXAI_PLATFORM_URL``, and many pipelines still hold their secrets under those names. Each
is read only when its ``SPLX_`` name is unset or blank (``SPLX_`` wins when both are set),
and the command says which older name it used, so nobody wonders where a URL came from.
The key's value itself is never shown: only the names are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

#: Today's name -> the older one it falls back to.
OLDER_NAMES: Final = {
    "SPLX_API_KEY": "SPLXAI_API_KEY",
    "SPLX_API_URL": "SPLXAI_API_URL",
    "SPLX_PLATFORM_URL": "SPLXAI_PLATFORM_URL",
}


def with_older_names(env: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """``env`` with each unset (or blank) ``SPLX_`` name taken from its older name, and the
    older names that were used, in ``OLDER_NAMES`` order."""
    resolved = dict(env)
    used = []
    for name, older in OLDER_NAMES.items():
        if not env.get(name, "").strip() and env.get(older, "").strip():
            resolved[name] = env[older]
            used.append(older)
    return resolved, used


def older_names_note(used: list[str]) -> str | None:
    """The one line that says which older names were read; None when none was."""
    if not used:
        return None
    pairs = ", ".join(f"{older} for {name}" for name, older in OLDER_NAMES.items() if older in used)
    return f"Note: read {pairs} (the older names; the SPLX_ names win when set)."
