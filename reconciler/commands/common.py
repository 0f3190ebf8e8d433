"""What every command shares: resolved settings, the console, the store and the API client."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from reconciler.errors import UsageError
from reconciler.ui import Console, RedactingFilter, Redactor, should_color

if TYPE_CHECKING:
    import httpx

    from reconciler.api.client import ProbeClient
    from reconciler.api.retry import RetryPolicy
    from reconciler.spec.model import DesiredSet
    from reconciler.state.store import StateStore

DEFAULT_STATE = "state/reconciler.state.json"
DEFAULT_SPEC_PATHS = ("specs",)
API_KEY_ENV = "SPLX_API_KEY"

log = logging.getLogger("reconciler.cli")

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")


def parse_duration(text: str) -> float:
    """'0', '30', '30s', '5m', '1h', '250ms' → seconds. Bare numbers are seconds."""
    match = _DURATION.match(text.strip())
    if not match:
        raise UsageError(
            f"invalid duration {text!r}: use a number of seconds or a value such as 30s, 5m, 1h"
        )
    value = float(match.group(1))
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}[match.group(2)]
    return value * scale


@dataclass
class Settings:
    """Options of one invocation, after command line > environment > project config."""

    state: str = DEFAULT_STATE
    api_url: str | None = None
    region: str | None = None
    lock_timeout: float = 0.0
    no_color: bool = False
    quiet: bool = False
    verbose: bool = False
    debug: bool = False
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    #: Attempts per request (retries follow the rules of reconciler.api.retry).
    max_attempts: int | None = None
    #: Seconds to wait for an answer before the outcome counts as unknown.
    request_timeout: float | None = None

    def retry_policy(self) -> RetryPolicy:
        from reconciler.api.retry import RetryPolicy

        if self.max_attempts is None:
            return RetryPolicy()
        return RetryPolicy(max_attempts=self.max_attempts)

    def timeout(self) -> httpx.Timeout:
        from reconciler.api.client import DEFAULT_TIMEOUT

        if self.request_timeout is None:
            return DEFAULT_TIMEOUT
        import httpx

        return httpx.Timeout(self.request_timeout, connect=min(10.0, self.request_timeout))

    @property
    def api_key(self) -> str | None:
        return self.env.get(API_KEY_ENV) or None


class Session:
    """One command's resources: console, logging, store and client, created on demand."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        secrets = [s for s in (settings.api_key,) if s]
        self.redact = Redactor(secrets)
        import sys

        self.console = Console(
            color=should_color(sys.stdout, settings.env, no_color_flag=settings.no_color),
            quiet=settings.quiet,
            redact=self.redact,
        )
        self._configure_logging()

    def _configure_logging(self) -> None:
        level = (
            logging.DEBUG
            if self.settings.debug
            else logging.INFO
            if self.settings.verbose
            else logging.WARNING
        )
        logger = logging.getLogger("reconciler")
        logger.setLevel(level)
        logger.propagate = False
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        handler = logging.StreamHandler(self.console.err_stream)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(RedactingFilter(self.redact))
        logger.addHandler(handler)
        if self.settings.quiet and not self.settings.verbose and not self.settings.debug:
            logger.setLevel(logging.ERROR)

    def store(self) -> StateStore:
        from reconciler.state import open_store

        store = open_store(self.settings.state)
        log.info("state: %s", store.location)
        return store

    def client(self, *, parallelism: int) -> ProbeClient:
        """The API client; fails before anything is sent when the key or URL is unusable."""
        from reconciler.api.client import ProbeClient

        client = ProbeClient.from_env(
            self.settings.api_url,
            self.settings.region,
            self.settings.env,
            max_connections=parallelism,
            retry=self.settings.retry_policy(),
            timeout=self.settings.timeout(),
        )
        log.info("API: %s (up to %d requests at once)", client.base_url, parallelism)
        return client


def load_desired(paths: Sequence[str]) -> DesiredSet:
    from reconciler.spec.loader import load_specs

    desired = load_specs(list(paths) or list(DEFAULT_SPEC_PATHS))
    log.info("specs: %d file(s), %d run(s)", len(desired.files), len(desired.runs))
    return desired
