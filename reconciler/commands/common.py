"""What every command shares: resolved settings, the console, the store and the API client."""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from reconciler import logs
from reconciler.defaults import API_KEY_ENV, DEFAULT_SPEC_PATHS, DEFAULT_STATE
from reconciler.errors import UsageError
from reconciler.older_env import older_names_note, with_older_names
from reconciler.redact import RedactingFilter, Redactor
from reconciler.ui import Console, should_color

if TYPE_CHECKING:
    import httpx

    from reconciler.api.client import ProbeClient
    from reconciler.api.retry import RetryPolicy
    from reconciler.config import ProjectConfig
    from reconciler.results.gate import Gate
    from reconciler.spec.model import DesiredSet
    from reconciler.state.store import StateStore


log = logs.Log("reconciler.cli")

#: The logger every module logs under: a session gives it the CLI's handler and level.
LOGGER = "reconciler"

#: Compiled on first use (``re`` keeps it): most commands are given no duration.
_DURATION = r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$"


#: The longest duration an option takes: beyond it clocks and timers overflow, and no wait or
#: lock is meant to last longer.
_LONGEST = 366 * 86400.0


def parse_duration(text: str, option: str | None = None) -> float:
    """'0', '30', '30s', '5m', '1.5h', '250ms', '1d', and the spec's compound forms ('1h30m',
    ``reconciler.durations``) → seconds. Bare numbers are seconds. ``option`` names the
    option in the error."""
    from reconciler.durations import parse_duration as parse_compound

    where = f"{option}: " if option else ""
    match = re.match(_DURATION, text.strip())
    if match:
        scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
        seconds = float(match.group(1)) * scale[match.group(2)]
    else:
        compound = parse_compound(text)
        if compound is None:
            raise UsageError(
                f"{where}invalid duration {text!r}: use a number of seconds or a value such "
                "as 250ms, 30s, 5m, 1.5h, 1h30m or 1d"
            )
        seconds = float(compound)
    if seconds > _LONGEST:
        raise UsageError(f"{where}{text!r} is longer than a year; give at most 366d")
    return seconds


# Never printed or compared: no __repr__ or __eq__ to compile at import (docs/ARCHITECTURE.md);
# a repr would show ``env``, API key included.
@dataclass(repr=False, eq=False)
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
    #: True when --state was given on the command line (not env, config or default).
    state_from_flag: bool = False
    #: Attempts per request, the first included (retries follow reconciler.api.retry's rules).
    max_attempts: int | None = None
    #: Longest wait between two attempts, in seconds (the backoff's cap).
    retry_max_delay: float | None = None
    #: Seconds to wait for an answer before the outcome counts as unknown.
    request_timeout: float | None = None
    #: The project config (``reconciler.yaml``), if one was found; the CLI has already put
    #: its ``state`` below --state and RECONCILER_STATE.
    config: ProjectConfig | None = None
    #: ``--platform-url``: the web UI that run links point to.
    platform_url: str | None = None
    #: The plan's clock (``rerunAfter``): injectable so tests need not wait days.
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def retry_policy(self) -> RetryPolicy:
        from reconciler.api.retry import RetryPolicy

        limits: dict[str, Any] = {}
        if self.max_attempts is not None:
            limits["max_attempts"] = self.max_attempts
        if self.retry_max_delay is not None:
            limits["max_delay"] = self.retry_max_delay
            limits["base_delay"] = min(RetryPolicy.base_delay, self.retry_max_delay)
        return RetryPolicy(**limits)

    def timeout(self) -> httpx.Timeout:
        from reconciler.api.client import DEFAULT_TIMEOUT

        if self.request_timeout is None:
            return DEFAULT_TIMEOUT
        import httpx

        return httpx.Timeout(self.request_timeout, connect=min(10.0, self.request_timeout))

    @property
    def api_key(self) -> str | None:
        # Stripped as the client strips it: the value that is sent is the one to redact.
        return self.env.get(API_KEY_ENV, "").strip() or None


class _LoggerSnapshot:
    """What a session changes on the ``reconciler`` logger, as it was before."""

    def __init__(self) -> None:
        import logging

        logger = logging.getLogger(LOGGER)
        self.level, self.propagate, self.disabled = logger.level, logger.propagate, logger.disabled
        self.handlers = list(logger.handlers)
        self.filters = list(logger.filters)

    def restore(self) -> None:
        import logging

        logger = logging.getLogger(LOGGER)
        for handler in logger.handlers:
            if handler not in self.handlers:
                handler.close()
        logger.handlers[:] = self.handlers
        logger.filters[:] = self.filters
        logger.setLevel(self.level)
        logger.propagate = self.propagate
        logger.disabled = self.disabled


def _logging_level(settings: Settings) -> int:
    """The level of a session's logging: --debug, --verbose, --quiet, else warnings."""
    if settings.debug:
        return logs.DEBUG
    if settings.verbose:
        return logs.INFO
    return logs.ERROR if settings.quiet else logs.WARNING


@contextmanager
def logging_restored() -> Iterator[None]:
    """Put the ``reconciler`` logger back as it was, once the sessions opened inside are done.

    A session takes the logger over for its command (its own handler, its level, no
    propagation). A process that runs one command and exits needs nothing undone; a caller of
    ``main(argv)`` in-process (tests, a program embedding reconciler) does: otherwise its own
    handlers (pytest's caplog among them) never see a ``reconciler`` record again, and the
    session's handler keeps writing to a stream that was only the command's.
    """
    before = _LoggerSnapshot()
    try:
        yield
    finally:
        before.restore()


class Session:
    """One command's resources: console, logging, store and client, created on demand.

    Used as a context manager, it gives the logging back on exit (``close``): for code that
    builds a session itself and lives on after the command.
    """

    def __init__(self, settings: Settings) -> None:
        env, older = with_older_names(settings.env)
        if older:
            settings.env = env  # SPLXAI_ names stand in for unset SPLX_ ones (older_env)
        self.settings = settings
        self._store: StateStore | None = None
        secrets = [s for s in (settings.api_key,) if s]
        self.redact = Redactor(secrets)
        import sys

        self.console = Console(
            color=should_color(sys.stdout, settings.env, no_color_flag=settings.no_color),
            quiet=settings.quiet,
            redact=self.redact,
        )
        # Set up now, or when something first logs (``reconciler.logs``: a plan logs nothing
        # at the default level, and would import ``logging`` for nothing).
        self._logging_before: _LoggerSnapshot | None = None
        self._logging_level = _logging_level(settings)
        logs.take_over(self._logging_level, self._configure_logging)
        note = older_names_note(older)
        if note is not None:
            self.console.info(note)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Put the ``reconciler`` logger back as it was before this session (``main(argv)``
        does the same with ``logging_restored``; a process ending with its command need not)."""
        if not logs.cancel(self._configure_logging) and self._logging_before is not None:
            self._logging_before.restore()

    def _configure_logging(self) -> None:
        import logging

        self._logging_before = _LoggerSnapshot()
        logger = logging.getLogger(LOGGER)
        logger.setLevel(self._logging_level)
        logger.propagate = False
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        handler = logging.StreamHandler(self.console.err_stream)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
        handler.addFilter(RedactingFilter(self.redact))
        logger.addHandler(handler)

    def state_args(self) -> str:
        """`` --state LOCATION`` when the state was chosen on the command line, for the next-step
        commands we print (an environment variable or config file carries over by itself)."""
        if not self.settings.state_from_flag:
            return ""
        # The store's location never holds a password (a postgresql:// URL may).
        return f" --state {shlex.quote(self.store().location)}"

    def state_identity(self) -> str:
        """Which state this is, for a saved plan to check it is applied to the same one: the
        absolute path of a file, or the (password-free) location of a PostgreSQL state."""
        from reconciler.locations import is_postgres_url

        location = self.store().location
        return location if is_postgres_url(self.settings.state) else str(Path(location).resolve())

    def store(self) -> StateStore:
        """The command's one store: opened once, since its lock and notes belong to it."""
        if self._store is None:
            from reconciler.state import open_store

            self._store = open_store(self.settings.state)
            log.info("state: %s", self._store.location)
        return self._store

    def client(self, *, parallelism: int) -> ProbeClient:
        """The API client; fails before anything is sent when the key or URL is unusable."""
        from reconciler.api.client import ProbeClient

        api_url, region = self.api_server()
        client = ProbeClient.from_env(
            api_url,
            region,
            self.settings.env,
            max_connections=parallelism,
            retry=self.settings.retry_policy(),
            timeout=self.settings.timeout(),
            status_path_template=self.status_path(),
            findings_path_template=self.findings_path(),
        )
        log.info("API: %s (up to %d requests at once)", client.base_url, parallelism)
        return client

    def status_path(self) -> str:
        """The status endpoint's path template: RECONCILER_STATUS_PATH > the config's
        ``statusPath`` > the documented one; checked here so a bad one names its source."""
        from reconciler.api.endpoints import (
            DEFAULT_STATUS_PATH,
            STATUS_PATH_ENV,
            check_status_path,
        )

        config = self.settings.config
        configured = config.status_path if config is not None else None
        return self._path_template(
            STATUS_PATH_ENV, "statusPath", configured, DEFAULT_STATUS_PATH, check_status_path
        )

    def findings_path(self) -> str:
        """The test-case export's path template: RECONCILER_FINDINGS_PATH > the config's
        ``findingsPath`` > the documented one; checked here so a bad one names its source."""
        from reconciler.api.endpoints import (
            DEFAULT_FINDINGS_PATH,
            FINDINGS_PATH_ENV,
            check_findings_path,
        )

        config = self.settings.config
        configured = config.findings_path if config is not None else None
        return self._path_template(
            FINDINGS_PATH_ENV,
            "findingsPath",
            configured,
            DEFAULT_FINDINGS_PATH,
            check_findings_path,
        )

    def _path_template(
        self,
        env_name: str,
        config_key: str,
        configured: str | None,
        default: str,
        check: Callable[..., str],
    ) -> str:
        """The environment's value, else the project config's, else ``default``; each one
        checked by ``check`` with its source named."""
        from_env = self.settings.env.get(env_name, "")
        if from_env:
            return check(from_env, source=env_name)
        config = self.settings.config
        if config is not None and configured is not None:
            return check(configured, source=f"{config.display}: {config_key}")
        return default

    def platform_url(self) -> str:
        """The web UI base URL for run links (see ``reconciler.results.links``)."""
        from reconciler.results.links import resolve_platform_url

        config = self.settings.config
        _, region = self.api_server()
        return resolve_platform_url(
            self.settings.platform_url,
            self.settings.env,
            region=region or self.settings.region,
            configured=config.platform_url if config is not None else None,
        )

    def check_api_settings(self) -> None:
        """Refuse conflicting or unsafe API settings (--region with --api-url, http:// to a
        remote host) before any planning output, not after it."""
        from reconciler.api.endpoints import resolve_base_url

        api_url, region = self.api_server()
        resolve_base_url(api_url, region, self.settings.env)

    def api_server(self) -> tuple[str | None, str | None]:
        """(api_url, region) after flags > SPLX_API_URL > the project config's apiUrl/region."""
        from reconciler.api.endpoints import API_URL_ENV, validate_base_url

        settings, config = self.settings, self.settings.config
        if settings.api_url is not None or settings.region is not None or config is None:
            return settings.api_url, settings.region
        if settings.env.get(API_URL_ENV):
            return None, None  # resolve_base_url reads it
        if config.api_url is not None:
            where = f"{config.display}: apiUrl"
            return validate_base_url(config.api_url, source=where), None
        return None, config.region


def load_desired(
    paths: Sequence[str], settings: Settings | None = None, *, missing_ok: bool = False
) -> DesiredSet:
    """The specs under ``paths``; without paths, the project config's ``specs`` or specs/.

    ``missing_ok``: when no path was given and the default ones do not exist, an empty set
    (``destroy`` reads specs only for ``protect`` and must work without them).
    """
    from reconciler.spec.loader import load_specs

    config = settings.config if settings is not None else None
    configured = config.spec_paths() if config is not None and not paths else None
    if not paths:
        paths = configured if configured is not None else DEFAULT_SPEC_PATHS
        # Only the default specs/ may be missing: paths a reconciler.yaml names must exist.
        if missing_ok and configured is None and not any(Path(p).exists() for p in paths):
            log.info("no spec files at %s: nothing is protected", ", ".join(paths))
            paths = []
    env = settings.env if settings is not None else None
    desired = load_specs(
        list(paths), env=env, config=config, paths_from_config=configured is not None
    )
    log.info("specs: %d file(s), %d run(s)", len(desired.files), len(desired.runs))
    return desired


def gates_of(settings: Settings, desired: DesiredSet, keys: Iterable[str]) -> dict[str, Gate]:
    """Each key's gate from the specs; a tracked run no spec declares (any more) gets the
    project config's gate, else the default one."""
    config = settings.config
    fallback = config.default_gate() if config is not None else None
    gates = {}
    for key in keys:
        declared = desired.runs.get(key)
        if declared is not None:
            gates[key] = declared.gate
        elif fallback is not None:
            gates[key] = fallback
    return gates


def report_store_notes(session: Session, store: StateStore) -> None:
    """Tell the user what the store repaired or noticed on the way: a stale lock taken over
    (after ``lock``), a torn journal line dropped (after ``read`` / ``recover``)."""
    if store.stale_lock is not None:
        session.console.warn(
            f"took over a stale lock: {store.stale_lock.describe()}; that process is gone. "
            "Any work it left in the journal has been recovered."
        )
    for note in store.notes:
        session.console.warn(note)
