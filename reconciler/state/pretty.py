"""The state file's bytes: ``json.dumps(sort_keys=True, indent=2)``, but findings rows on one
line each (``reconciler.state.codec.encode_state``). A module of its own so that reading a
state (every plan) never imports ``json`` for it."""

from __future__ import annotations

import json
from typing import Any

Document = dict[str, Any]


def pretty(document: Document) -> bytes:
    """``json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False)`` and a newline,
    byte for byte, except that the rows of a ``findings`` object's ``records`` are written one
    per line (see ``RecordedFindings``): indented, each of a row's ten values would take a line.

    Written here rather than by ``json``: with ``indent`` set, CPython's ``json`` walks the
    document in Python anyway (its C encoder serves only ``indent=None``), and this walk is
    about as fast while it can write one row per line.
    """
    out: list[str] = []
    _write(document, "\n", out)
    out.append("\n")
    return "".join(out).encode()


_encode_string = json.encoder.encode_basestring  # the C one when available, as json uses
_ROW = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_PLAIN, _FINDINGS, _ROWS = 0, 1, 2


def _write(value: Any, newline: str, out: list[str], place: int = _PLAIN) -> None:
    """Append ``value`` at the indentation of ``newline``. ``place`` says where it is: a
    ``findings`` object (``_FINDINGS``), or the ``records`` list of one (``_ROWS``)."""
    kind = type(value)
    if kind is str:
        out.append(_encode_string(value))
    elif kind is dict:
        _write_object(value, newline, out, place)
    elif kind is list:
        _write_list(value, newline, out, place)
    else:
        # None, bool, int, float: as json writes them.
        out.append(_ROW.encode(value))


def _write_object(value: Document, newline: str, out: list[str], place: int) -> None:
    if not value:
        out.append("{}")
        return
    inner = newline + "  "
    separator = "{" + inner
    for key in sorted(value):
        out.append(separator)
        out.append(_encode_string(key))
        out.append(": ")
        if key == "findings":
            _write(value[key], inner, out, _FINDINGS)
        elif key == "records" and place == _FINDINGS:
            _write(value[key], inner, out, _ROWS)
        else:
            _write(value[key], inner, out)
        separator = "," + inner
    out.append(newline + "}")


def _write_list(value: list[Any], newline: str, out: list[str], place: int) -> None:
    if not value:
        out.append("[]")
        return
    inner = newline + "  "
    separator = "[" + inner
    for item in value:
        out.append(separator)
        if place == _ROWS and type(item) is list:
            out.append(_ROW.encode(item))
        else:
            _write(item, inner, out)
        separator = "," + inner
    out.append(newline + "]")
