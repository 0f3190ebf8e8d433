"""``reconciler.redact``: secrets hidden in text, bytes, reprs and log records."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

from reconciler.redact import REDACTED, RedactingFilter, Redactor

KEY = "sk-live-0123456789"

REPO = Path(__file__).resolve().parents[1]


def _record(msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("t", logging.INFO, __file__, 1, msg, args, None)


def test_short_values_are_skipped_unless_asked_for() -> None:
    assert Redactor(["ab", ""])("ab cd") == "ab cd"
    assert Redactor(["ab", ""], shortest=1)("ab cd ab") == f"{REDACTED} cd {REDACTED}"


def test_bytes_are_redacted_too() -> None:
    body = f'{{"error": "{KEY} and {KEY}"}}'.encode()
    assert Redactor([KEY]).redact_bytes(body) == b'{"error": "*** and ***"}'


def test_the_repr_does_not_show_the_secrets() -> None:
    assert KEY not in repr(Redactor([KEY]))


def test_the_filter_redacts_arguments_and_keeps_clean_records_intact() -> None:
    log_filter = RedactingFilter(Redactor([KEY]))

    leaky = _record("sent %s to %s", KEY, "host")
    assert log_filter.filter(leaky) is True
    assert leaky.getMessage() == f"sent {REDACTED} to host"
    assert leaky.args is None
    assert KEY not in repr(vars(leaky))

    clean = _record("sent %s", "nothing")
    assert log_filter.filter(clean) is True
    assert (clean.msg, clean.args) == ("sent %s", ("nothing",))


def test_importing_it_loads_nothing_heavy() -> None:
    probe = (
        "import sys, reconciler.redact\n"
        "print(sorted({'pydantic', 'httpx', 'reconciler.apply'} & set(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert done.stdout.strip() == "[]"
