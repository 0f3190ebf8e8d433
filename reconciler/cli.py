"""The ``reconciler`` command line: click wiring only.

Each command builds ``Settings``, opens a ``Session`` and calls a function in
``reconciler.commands`` that returns an exit code. ``main`` maps every ``ReconcilerError`` to
exit code 1 with its message (never a traceback), click's own usage errors to 1 as well (2 is
reserved for "plan has changes"), and interrupts to 130.

Heavy modules (pydantic, httpx, deepdiff, aiohttp) are imported inside commands, so that
``reconciler --help`` starts fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import click

from reconciler.defaults import API_KEY_ENV, DEFAULT_PARALLELISM, DEFAULT_STATE, DISTRIBUTION

if TYPE_CHECKING:
    from reconciler.commands.common import Session
    from reconciler.commands.planning import PlanOptions
    from reconciler.commands.waiting import WaitSettings

F = TypeVar("F", bound=Callable[..., Any])

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


def _lock_option(func: F) -> F:
    """For the commands that take the state lock (they write state)."""
    return click.option(
        "--lock-timeout",
        default="0s",
        show_default=True,
        metavar="DURATION",
        help="Wait this long for the state lock (e.g. 30s, 5m) before giving up.",
    )(func)


def _state_option(func: F) -> F:
    return click.option(
        "--state",
        "state",
        envvar="RECONCILER_STATE",
        default=DEFAULT_STATE,
        show_default=True,
        metavar="FILE|URL",
        help="State location: a JSON file, or a postgresql:// URL. Env: RECONCILER_STATE.",
    )(func)


def _state_options(func: F) -> F:
    """--state and --lock-timeout, for the commands that write state."""
    return _state_option(_lock_option(func))


def _parallelism_option(func: F) -> F:
    return click.option(
        "--parallelism",
        default=DEFAULT_PARALLELISM,
        show_default=True,
        type=click.IntRange(min=1, max=256),
        help="Concurrent API requests.",
    )(func)


def _run_options(func: F) -> F:
    """How apply and destroy execute: approval and concurrency."""
    func = _parallelism_option(func)
    return click.option("--auto-approve", is_flag=True, help="Skip the interactive approval.")(func)


def _refresh_options(func: F) -> F:
    """``--refresh=true|false`` (Terraform's spelling) and ``--no-refresh``."""
    func = click.option("--no-refresh", is_flag=True, help="The same as --refresh=false.")(func)
    return click.option(
        "--refresh",
        type=click.BOOL,
        is_flag=False,
        flag_value=True,
        default=None,
        metavar="true|false",
        help="Read the status of tracked runs not known to have ended first (default true); "
        "plan re-triggers runs cancelled outside reconciler, ended in Error or gone, and no "
        "cancel is sent to a run that has ended. false: work from state alone, offline.",
    )(func)


def _refresh_wanted(kwargs: dict[str, Any]) -> bool:
    refresh, no_refresh = kwargs.get("refresh"), bool(kwargs.get("no_refresh"))
    if refresh is True and no_refresh:
        from reconciler.errors import UsageError

        raise UsageError("--refresh=true and --no-refresh contradict each other: give one")
    return not no_refresh and refresh is not False


def _platform_option(func: F) -> F:
    return click.option(
        "--platform-url",
        default=None,
        metavar="URL",
        help="SPLX Probe web UI that run links point to (env SPLX_PLATFORM_URL; default the "
        "region's, https://probe.splx.ai for eu).",
    )(func)


def _api_options(func: F) -> F:
    func = _platform_option(func)
    func = click.option(
        "--request-timeout",
        default=None,
        metavar="DURATION",
        help="Wait this long for each answer (default 30s); a trigger not answered by then is "
        "recorded as an unknown outcome.",
    )(func)
    func = click.option(
        "--retry-max-delay",
        default=None,
        metavar="DURATION",
        help="Longest wait between two attempts (default 20s); Retry-After is honoured.",
    )(func)
    func = click.option(
        "--max-attempts",
        default=None,
        type=click.IntRange(min=1, max=20),
        help="Attempts per request, the first included (default 4); 1 disables retries. "
        "A trigger is only retried when it provably never reached the API, or on 429.",
    )(func)
    func = click.option(
        "--region",
        type=click.Choice(["eu", "us"]),
        default=None,
        help="SPLX region whose API server to use (default eu).",
    )(func)
    return click.option(
        "--api-url",
        default=None,
        metavar="URL",
        help="Probe API base URL (env SPLX_API_URL). http:// only to loopback.",
    )(func)


def _output_options(func: F) -> F:
    func = click.option("--debug", is_flag=True, help="Log every request (never the API key).")(
        func
    )
    func = click.option("-v", "--verbose", is_flag=True, help="Say more.")(func)
    func = click.option("-q", "--quiet", is_flag=True, help="Print only results and errors.")(func)
    return click.option("--no-color", is_flag=True, help="No colour (also: NO_COLOR=1).")(func)


def _wait_options(func: F) -> F:
    """--timeout, --interval and --junit: declared once for `wait` and `apply --wait`."""
    func = click.option(
        "--junit",
        metavar="FILE",
        default=None,
        help="Write the results as JUnit XML (checked before waiting).",
    )(func)
    func = click.option(
        "--interval",
        default="30s",
        show_default=True,
        metavar="DURATION",
        help="Least time between two status reads of one run (jittered; 429s stretch it).",
    )(func)
    return click.option(
        "--timeout",
        default="2h",
        show_default=True,
        metavar="DURATION",
        help="Stop waiting after this long; runs still going then exit 4.",
    )(func)


def _wait_settings(kwargs: dict[str, Any], *, fmt: str = "text", parallelism: int) -> WaitSettings:
    from reconciler.commands.common import parse_duration
    from reconciler.commands.waiting import WaitSettings

    return WaitSettings(
        timeout=parse_duration(kwargs.get("timeout") or "2h", "--timeout"),
        interval=parse_duration(kwargs.get("interval") or "30s", "--interval"),
        junit=kwargs.get("junit") or None,
        fmt=fmt,
        parallelism=parallelism,
    )


def _plan_options(func: F) -> F:
    func = click.option(
        "--allow-empty",
        is_flag=True,
        help="Allow planning to cancel everything when no spec declares a run.",
    )(func)
    func = click.option(
        "--force",
        is_flag=True,
        help="Allow a plan that cancels or replaces over 30% of the tracked runs (checked once "
        "10 or more are tracked).",
    )(func)
    func = click.option(
        "--retrigger-unknown",
        is_flag=True,
        help="Trigger again the runs whose earlier trigger has an unknown outcome.",
    )(func)
    func = click.option(
        "--replace",
        "replace",
        multiple=True,
        metavar="KEY",
        help="Cancel and re-trigger this run even if unchanged (repeatable).",
    )(func)
    return click.option(
        "--target",
        "targets",
        multiple=True,
        metavar="KEY",
        help="Plan only this run (repeatable).",
    )(func)


def _session(**kwargs: Any) -> Session:
    from reconciler.commands.common import Session, Settings, parse_duration

    root = click.get_current_context(silent=True)
    settings = Settings(
        config=root.find_root().obj if root is not None else None,
        state=kwargs.get("state") or DEFAULT_STATE,
        state_from_flag=root is not None
        and root.get_parameter_source("state") is click.core.ParameterSource.COMMANDLINE,
        api_url=kwargs.get("api_url") or None,
        region=kwargs.get("region"),
        platform_url=kwargs.get("platform_url") or None,
        lock_timeout=parse_duration(kwargs.get("lock_timeout") or "0", "--lock-timeout"),
        max_attempts=kwargs.get("max_attempts"),
        retry_max_delay=_duration_or_none(kwargs.get("retry_max_delay"), "--retry-max-delay"),
        request_timeout=_duration_or_none(kwargs.get("request_timeout"), "--request-timeout"),
        no_color=bool(kwargs.get("no_color")),
        quiet=bool(kwargs.get("quiet")),
        verbose=bool(kwargs.get("verbose")),
        debug=bool(kwargs.get("debug")),
        env=dict(os.environ),
    )
    return Session(settings)


def _duration_or_none(text: str | None, option: str) -> float | None:
    from reconciler.commands.common import parse_duration

    return None if text is None else parse_duration(text, option)


def _plan_opts(
    paths: tuple[str, ...], kwargs: dict[str, Any], *, destroy: bool = False
) -> PlanOptions:
    from reconciler.commands.planning import PlanOptions

    return PlanOptions(
        paths=list(paths),
        targets=list(kwargs.get("targets") or ()),
        replace=list(kwargs.get("replace") or ()),
        retrigger_unknown=bool(kwargs.get("retrigger_unknown")),
        destroy=destroy,
        force=bool(kwargs.get("force")),
        allow_empty=bool(kwargs.get("allow_empty")) or destroy,
        refresh=_refresh_wanted(kwargs),
    )


def _config_params(*, expose: bool = True) -> list[click.Parameter]:
    """``--config FILE`` and ``--no-config``: of the group, and of each command reading it
    (where ``_ConfigCommand.parse_args`` reads them, so command functions never see them)."""
    return [
        click.Option(
            ["--config", "config_file"],
            type=click.Path(dir_okay=False),
            metavar="FILE",
            expose_value=expose,
            help="Project config to use (default: the nearest reconciler.yaml up to the repo "
            "root).",
        ),
        click.Option(
            ["--no-config"], is_flag=True, expose_value=expose, help="Ignore any reconciler.yaml."
        ),
    ]


#: Where the group keeps ``--config``/``--no-config`` given before the command name.
_CONFIG_CHOICE = "reconciler.config_choice"


class _ConfigCommand(click.Command):
    """A command that reads the project config (every command but ``schema`` and
    ``simulator``). It takes ``--config FILE``/``--no-config`` after its name too, as
    Terraform users type them, with the same meaning as before it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.extend(_config_params(expose=False))

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # The config supplies defaults (the state location) that the other options take while
        # they are parsed, so it is read first: one parse just for --config and --no-config.
        if not ctx.resilient_parsing:
            opts, _, _ = self.make_parser(ctx).parse_args(args=list(args))
            helper = self.get_help_option(ctx)
            if helper is None or opts.get(helper.name or "") is not True:
                given = opts.get("config_file")
                _use_project_config(
                    ctx, given if isinstance(given, str) else None, opts.get("no_config") is True
                )
        return super().parse_args(ctx, args)


class _Group(click.Group):
    command_class = _ConfigCommand
    group_class = type  # ``state`` is a _Group too: its commands read the config

    def __init__(
        self, *args: Any, lazy_commands: Mapping[str, tuple[str, str]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        #: Commands defined in modules of their own, imported only when that command is
        #: asked for (or listed by --help): name -> (module, attribute).
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in self.lazy_commands:
            import importlib

            module, attribute = self.lazy_commands[cmd_name]
            command = getattr(importlib.import_module(module), attribute)
            self.add_command(command, cmd_name)
        return command


@click.group(
    cls=_Group,
    # The simulator's command lives with the simulator (its options, aiohttp behind them): a
    # plan or an apply never imports it, only `reconciler simulator` and --help's list do.
    lazy_commands={"simulator": ("reconciler.simulator.cli", "simulator_command")},
    params=_config_params(),
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
# The version of the installed distribution, read from its metadata only when --version is
# given (click looks it up lazily), so `reconciler --help` pays nothing for it.
@click.version_option(package_name=DISTRIBUTION, prog_name="reconciler")
@click.pass_context
def cli(ctx: click.Context, config_file: str | None, no_config: bool) -> None:
    """SPLX Probe test runs as code: declare runs in YAML, review a plan, apply it."""
    _check_config_choice(config_file, no_config)
    ctx.meta[_CONFIG_CHOICE] = (config_file, no_config)


def _check_config_choice(config_file: str | None, no_config: bool) -> None:
    if no_config and config_file:
        from reconciler.errors import UsageError

        raise UsageError("--config FILE and --no-config contradict each other: give one")


def _use_project_config(ctx: click.Context, config_file: str | None, no_config: bool) -> None:
    """Load reconciler.yaml and put its settings below the command line and environment.

    ``--config``/``--no-config`` may come before the command name (kept by the group) or
    after it (``config_file``, ``no_config``); twice with different files is an error.
    click resolves an option from the command line, then its environment variable, then
    ``ctx.default_map``, then its default: the config's ``state`` goes into the command's
    default map. Its ``apiUrl``/``region`` sit below ``SPLX_API_URL``, which click does not
    read, so they travel in the root context's ``obj`` (see ``Session.api_server``), as do
    spec paths and probe sets.
    """
    from pathlib import Path

    from reconciler.config_lookup import find_project_config
    from reconciler.errors import UsageError

    before, no_before = ctx.meta.get(_CONFIG_CHOICE, (None, False))
    if before and config_file and Path(before).resolve() != Path(config_file).resolve():
        raise UsageError(
            f"--config is given twice with different files: {before} (before the command) "
            f"and {config_file} (after it): give it once"
        )
    config_file = config_file or before
    no_config = no_config or no_before
    _check_config_choice(config_file, no_config)
    if no_config:
        return
    path = Path(config_file) if config_file else find_project_config(Path.cwd())
    if path is None:
        return
    if config_file and not path.is_file():
        raise UsageError(f"--config {config_file}: no such file")
    from reconciler.config import load_project_config

    config = load_project_config(path)
    ctx.find_root().obj = config
    state = config.state_location()
    if state is not None and any(param.name == "state" for param in ctx.command.params):
        ctx.default_map = {**(ctx.default_map or {}), "state": state}


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@_output_options
def validate(paths: tuple[str, ...], **kwargs: Any) -> int:
    """Check spec files offline (default path: specs/)."""
    from reconciler.commands.planning import validate as run

    return run(_session(**kwargs), paths)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@_plan_options
@click.option("--out", metavar="FILE", help="Save the plan for `apply --plan FILE`.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there are no changes, 1 on error, 2 when there are changes.",
)
@_refresh_options
@_parallelism_option
@click.option(
    "--lock-timeout",
    "ignored_lock_timeout",
    metavar="DURATION",
    help="Accepted so that scripts shared with apply work; plan takes no lock, so it is ignored.",
)
@_state_option
@_api_options
@_output_options
def plan(
    paths: tuple[str, ...],
    out: str | None,
    fmt: str,
    detailed_exitcode: bool,
    parallelism: int,
    **kwargs: Any,
) -> int:
    """Show what apply would do; change nothing."""
    from reconciler.commands.planning import plan as run

    ignored_lock_timeout = kwargs.pop("ignored_lock_timeout", None)
    if ignored_lock_timeout is not None:
        from reconciler.commands.common import parse_duration

        parse_duration(
            ignored_lock_timeout, "--lock-timeout"
        )  # a typo is still an error, as it is for apply
        if not kwargs.get("quiet"):
            click.echo(
                f"Note: plan takes no state lock; --lock-timeout {ignored_lock_timeout} is "
                "ignored.",
                err=True,
            )

    return run(
        _session(**kwargs),
        _plan_opts(paths, kwargs),
        out=out,
        fmt=fmt,
        detailed_exitcode=detailed_exitcode,
        parallelism=parallelism,
    )


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@_plan_options
@click.option(
    "--plan", "plan_file", metavar="FILE", help="Apply a plan saved by `plan --out FILE`."
)
@click.option(
    "--wait",
    "wait_after",
    is_flag=True,
    help="Then wait for the runs this apply triggered or replaced and gate them "
    "(exit 3: a gate failed, 4: timed out).",
)
@_wait_options
@_refresh_options
@_run_options
@_state_options
@_api_options
@_output_options
def apply(
    paths: tuple[str, ...],
    plan_file: str | None,
    auto_approve: bool,
    parallelism: int,
    wait_after: bool,
    **kwargs: Any,
) -> int:
    """Plan, ask for approval, then trigger and cancel runs and record them in state."""
    from reconciler.commands.planning import apply as run
    from reconciler.errors import UsageError
    from reconciler.ui import stdin_is_terminal

    shaping = ("targets", "replace", "retrigger_unknown", "force", "allow_empty", "no_refresh")
    shaped = any(kwargs.get(name) for name in shaping) or kwargs.get("refresh") is not None
    if plan_file and (paths or shaped):
        raise UsageError(
            "--plan FILE applies the saved plan as it was reviewed: give no PATH, --target, "
            "--replace, --retrigger-unknown, --force, --allow-empty or --refresh (give them "
            "to `reconciler plan --out FILE` instead)"
        )
    waiting = _wait_settings(kwargs, parallelism=parallelism)
    ctx = click.get_current_context()
    given = [
        f"--{name}"
        for name in ("timeout", "interval", "junit")
        if ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE
    ]
    if given and not wait_after:
        raise UsageError(f"{given[0]} only applies with --wait: add --wait, or drop {given[0]}")
    return run(
        _session(**kwargs),
        _plan_opts(paths, kwargs),
        plan_file=plan_file,
        auto_approve=auto_approve,
        parallelism=parallelism,
        interactive=stdin_is_terminal(),
        wait=waiting if wait_after else None,
    )


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--target", "targets", multiple=True, metavar="KEY", help="Wait only for this run (repeatable)."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
@_wait_options
@_parallelism_option
@_state_option
@_api_options
@_output_options
def wait(
    paths: tuple[str, ...], targets: tuple[str, ...], fmt: str, parallelism: int, **kwargs: Any
) -> int:
    """Poll until every selected run has ended, then apply the gates.

    Exit 0 all ended and passed, 3 a gate failed, 4 timed out with runs still going (none
    failed), 1 an error (runs that could not be read are named), 130 interrupted. Results are
    recorded in state as runs end. PATH: the specs that give the gates (default as for plan).
    """
    from reconciler.commands.waiting import wait as run

    settings = _wait_settings(kwargs, fmt=fmt, parallelism=parallelism)
    return run(_session(**kwargs), paths, targets, settings)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@_run_options
@click.option("--target", "targets", multiple=True, metavar="KEY", help="Cancel only this run.")
@click.option(
    "--force",
    is_flag=True,
    help="Cancel every tracked run even when no spec files are found (protect marks unknown).",
)
@_refresh_options
@_state_options
@_api_options
@_output_options
def destroy(paths: tuple[str, ...], auto_approve: bool, parallelism: int, **kwargs: Any) -> int:
    """Cancel every run the state tracks (specs are read only for `protect`)."""
    from reconciler.commands.planning import apply as run
    from reconciler.ui import stdin_is_terminal

    return run(
        _session(**kwargs),
        _plan_opts(paths, kwargs, destroy=True),
        plan_file=None,
        auto_approve=auto_approve,
        parallelism=parallelism,
        interactive=stdin_is_terminal(),
    )


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--target", "targets", multiple=True, metavar="KEY", help="Show only this run (repeatable)."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
)
@_parallelism_option
@_state_option
@_api_options
@_output_options
def status(
    paths: tuple[str, ...], targets: tuple[str, ...], fmt: str, parallelism: int, **kwargs: Any
) -> int:
    """Each tracked run: status, test cases passed/failed/errored, gate verdict, link.

    Exit 0 when no ended run failed its gate, 3 when one did, 1 when a run could not be read.
    PATH: the specs that give the gates (default as for plan).
    """
    from reconciler.commands.results import StatusOptions
    from reconciler.commands.results import status as run

    options = StatusOptions(paths=paths, targets=targets, fmt=fmt, parallelism=parallelism)
    return run(_session(**kwargs), options)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--target", "targets", multiple=True, metavar="KEY", help="Show only this run (repeatable)."
)
@click.option(
    "--out",
    required=True,
    metavar="FILE",
    help="The HTML file to write (its directory is created if missing).",
)
@click.option(
    "--pdf",
    "pdf_dir",
    default=None,
    metavar="DIR",
    help="Also download each ended run's PDF report from the platform into DIR, linked from "
    "the page.",
)
@_refresh_options
@_parallelism_option
@_state_option
@_api_options
@_output_options
def report(
    paths: tuple[str, ...],
    *,
    targets: tuple[str, ...],
    out: str,
    pdf_dir: str | None,
    parallelism: int,
    **kwargs: Any,
) -> int:
    """Write one self-contained HTML page of the latest results (a heat map and the runs)."""
    from reconciler.commands.report import ReportOptions
    from reconciler.commands.report import report as run

    options = ReportOptions(
        out=out,
        paths=list(paths),
        targets=list(targets),
        refresh=_refresh_wanted(kwargs),
        pdf_dir=pdf_dir,
        parallelism=parallelism,
    )
    return run(_session(**kwargs), options)


@cli.group()
def state() -> None:
    """Read the state, or forget a run without cancelling it."""


@state.command("list")
@_state_option
@_output_options
def state_list(**kwargs: Any) -> int:
    """List the keys in state with their run ids."""
    from reconciler.commands.state_cmds import state_list as run

    return run(_session(**kwargs))


@state.command("show")
@click.argument("key")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_state_option
@_platform_option
@_output_options
def state_show(key: str, as_json: bool, **kwargs: Any) -> int:
    """Show one run in state."""
    from reconciler.commands.state_cmds import state_show as run

    return run(_session(**kwargs), key, as_json=as_json)


@state.command("rm")
@click.argument("keys", nargs=-1, required=True)
@_state_options
@_output_options
def state_rm(keys: tuple[str, ...], **kwargs: Any) -> int:
    """Forget runs without cancelling them."""
    from reconciler.commands.state_cmds import state_rm as run

    return run(_session(**kwargs), keys)


@state.command("copy")
@click.argument("source", metavar="SRC")
@click.argument("destination", metavar="DST")
@_lock_option
@_output_options
def state_copy(source: str, destination: str, **kwargs: Any) -> int:
    """Copy a state between locations (file ↔ postgresql://), keeping lineage and serial."""
    from reconciler.commands.state_cmds import state_copy as run

    return run(_session(**kwargs), source, destination)


@cli.command("import")
@click.argument("key")
@click.argument("test_run_id", type=int)
@click.argument("paths", nargs=-1, type=click.Path())
@_state_options
@_api_options
@_output_options
def import_(key: str, test_run_id: int, paths: tuple[str, ...], **kwargs: Any) -> int:
    """Adopt a run triggered elsewhere as KEY (which must be declared in the specs)."""
    from reconciler.commands.state_cmds import import_run as run

    return run(_session(**kwargs), key, test_run_id, paths)


@cli.command("force-unlock")
@click.argument("lock_id")
@_state_option
@_output_options
def force_unlock(lock_id: str, **kwargs: Any) -> int:
    """Remove a stale state lock by its id."""
    from reconciler.commands.state_cmds import force_unlock as run

    return run(_session(**kwargs), lock_id)


@cli.command(cls=click.Command)  # reads no project config: its --config is another option
@click.option(
    "--config", "of_config", is_flag=True, help="Print the schema of reconciler.yaml instead."
)
def schema(of_config: bool) -> int:
    """Print the JSON Schema of spec files, or of reconciler.yaml (for editors)."""
    import json

    if of_config:
        from reconciler.config import config_json_schema as make
    else:
        from reconciler.spec.schema import spec_json_schema as make

    click.echo(json.dumps(make(), indent=2, sort_keys=True))
    return 0


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the CLI and turn every outcome into an exit code.

    Without ``argv`` this is the process's own command line, and the process ends when the
    command does: the cycle collector is paused for it (``reconciler.collector``), and so is
    pydantic's plugin lookup when no plugin is installed (``reconciler.pydantic_plugins``).
    With ``argv`` the caller lives on, so the command's logging set-up is undone when it ends.
    """
    from reconciler import collector

    if argv is None:
        collector.pause()
        from reconciler.pydantic_plugins import skip_lookup_when_none_installed

        skip_lookup_when_none_installed()
    try:
        rv = _run(sys.argv[1:]) if argv is None else _run_in_process(argv)
    finally:
        collector.before_exit()
    sys.exit(rv)


def _run_in_process(args: list[str]) -> int:
    """``_run`` for a caller that lives on after the command: its logging is put back."""
    from reconciler.commands.common import logging_restored

    with logging_restored():
        return _run(args)


def _run(args: list[str]) -> int:
    """The command's exit code; every error is reported here, never as a traceback."""
    try:
        rv = cli.main(args=args, prog_name="reconciler", standalone_mode=False)
    except KeyboardInterrupt:
        click.echo("\nInterrupted.", err=True)
        return EXIT_INTERRUPTED
    except click.exceptions.Abort:
        click.echo("\nAborted.", err=True)
        return EXIT_INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        return EXIT_ERROR
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except Exception as exc:
        return _report_error(exc, args)
    return rv if isinstance(rv, int) else 0


def _report_error(exc: Exception, args: list[str]) -> int:
    from reconciler.errors import ReconcilerError
    from reconciler.redact import Redactor

    redact = Redactor([os.environ.get(n, "").strip() for n in (API_KEY_ENV, "SPLXAI_API_KEY")])
    if isinstance(exc, ReconcilerError):
        click.echo(redact(f"Error: {exc}"), err=True)
        return exc.exit_code
    if "--debug" in args:
        import traceback

        click.echo(redact("".join(traceback.format_exception(exc))), err=True)
    click.echo(
        redact(
            f"Internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in reconciler; please report it with the command you ran "
            "(re-run with --debug for the details)."
        ),
        err=True,
    )
    return EXIT_ERROR
