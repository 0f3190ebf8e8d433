"""Hiding secret values (the API key, a database password) in text, bytes and log records.

The last line of defence: a secret should never reach a message, but a server or library
echoing it back must not make us print or log it. Standard library only, so the CLI's error
path and the API client can both use it without importing anything heavy.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import logging

#: What stands where a secret was.
REDACTED: Final = "***"


class Redactor:
    """Replaces known secret values with ``REDACTED``; its repr never shows them."""

    def __init__(self, secrets: Iterable[str], *, shortest: int = 4) -> None:
        # Values shorter than ``shortest`` are skipped: in text we merely display, redacting
        # "ab" everywhere would garble innocent words. Pass ``shortest=1`` where a secret must
        # go whatever its length (a credential we send ourselves).
        self._secrets = [s for s in secrets if s and len(s) >= shortest]

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def redact_bytes(self, data: bytes) -> bytes:
        """The same for raw bytes (a response body), secrets matched as UTF-8."""
        for secret in self._secrets:
            data = data.replace(secret.encode(), REDACTED.encode())
        return data

    def __repr__(self) -> str:
        return f"Redactor(<{len(self._secrets)} secret(s)>)"


class RedactingFilter:
    """A logging filter that redacts secrets from every record, arguments included.

    A record is rewritten (message formatted, arguments dropped) only when it held a secret,
    so other handlers still see untouched records as they were logged. Not a subclass of
    ``logging.Filter``, which would add only filtering by logger name: ``logging`` takes any
    object with a ``filter`` method, and a command that logs nothing (a plan) imports this
    module but not ``logging`` (``reconciler.logs``).
    """

    def __init__(self, redact: Redactor) -> None:
        self._redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        clean = self._redact(text)
        if clean != text:
            record.msg, record.args = clean, None
        return True
