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
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from reconciler import __version__
from reconciler.defaults import API_KEY_ENV, DEFAULT_PARALLELISM, DEFAULT_STATE

if TYPE_CHECKING:
    from reconciler.commands.common import Session
    from reconciler.commands.planning import PlanOptions

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


def _run_options(func: F) -> F:
    """How apply and destroy execute: approval and concurrency."""
    func = click.option(
        "--parallelism",
        default=DEFAULT_PARALLELISM,
        show_default=True,
        type=click.IntRange(min=1, max=256),
        help="Concurrent API requests.",
    )(func)
    return click.option("--auto-approve", is_flag=True, help="Skip the interactive approval.")(func)


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
        lock_timeout=parse_duration(kwargs.get("lock_timeout") or "0"),
        max_attempts=kwargs.get("max_attempts"),
        retry_max_delay=_duration_or_none(kwargs.get("retry_max_delay")),
        request_timeout=_duration_or_none(kwargs.get("request_timeout")),
        no_color=bool(kwargs.get("no_color")),
        quiet=bool(kwargs.get("quiet")),
        verbose=bool(kwargs.get("verbose")),
        debug=bool(kwargs.get("debug")),
        env=dict(os.environ),
    )
    return Session(settings)


def _duration_or_none(text: str | None) -> float | None:
    from reconciler.commands.common import parse_duration

    return None if text is None else parse_duration(text)


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
    )


#: Commands that never read the project config.
_CONFIGLESS = frozenset({"schema", "simulator"})


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="reconciler")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Project config to use (default: the nearest reconciler.yaml up to the repo root).",
)
@click.option("--no-config", is_flag=True, help="Ignore any reconciler.yaml.")
@click.pass_context
def cli(ctx: click.Context, config_file: str | None, no_config: bool) -> None:
    """SPLX Probe test runs as code: declare runs in YAML, review a plan, apply it."""
    if no_config and config_file:
        from reconciler.errors import UsageError

        raise UsageError("--config FILE and --no-config contradict each other: give one")
    if no_config or ctx.invoked_subcommand in _CONFIGLESS:
        return
    _use_project_config(ctx, config_file)


def _use_project_config(ctx: click.Context, config_file: str | None) -> None:
    """Load reconciler.yaml and put its settings below the command line and environment.

    click resolves an option from the command line, then its environment variable, then
    ``ctx.default_map``, then its default: the config's ``state`` goes into the default map.
    Its ``apiUrl``/``region`` sit below ``SPLX_API_URL``, which click does not read, so they
    travel in ``ctx.obj`` (see ``Session.api_server``), as do spec paths and probe sets.
    """
    from pathlib import Path

    from reconciler.config import find_project_config, load_project_config

    path = Path(config_file) if config_file else find_project_config(Path.cwd())
    if path is None:
        return
    if config_file and not path.is_file():
        from reconciler.errors import UsageError

        raise UsageError(f"--config {config_file}: no such file")
    config = load_project_config(path)
    ctx.obj = config
    state = config.state_location()
    if state is not None:
        with_state = {"state": state}
        ctx.default_map = {
            **{name: with_state for name in ("plan", "apply", "destroy", "import")},
            "force-unlock": with_state,
            "state": {name: with_state for name in ("list", "show", "rm")},
        }


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
@_state_option
@_output_options
def plan(
    paths: tuple[str, ...], out: str | None, fmt: str, detailed_exitcode: bool, **kwargs: Any
) -> int:
    """Show what apply would do; change nothing."""
    from reconciler.commands.planning import plan as run

    return run(
        _session(**kwargs),
        _plan_opts(paths, kwargs),
        out=out,
        fmt=fmt,
        detailed_exitcode=detailed_exitcode,
    )


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@_plan_options
@click.option(
    "--plan", "plan_file", metavar="FILE", help="Apply a plan saved by `plan --out FILE`."
)
@_run_options
@_state_options
@_api_options
@_output_options
def apply(
    paths: tuple[str, ...],
    plan_file: str | None,
    auto_approve: bool,
    parallelism: int,
    **kwargs: Any,
) -> int:
    """Plan, ask for approval, then trigger and cancel runs and record them in state."""
    from reconciler.commands.planning import apply as run
    from reconciler.errors import UsageError
    from reconciler.ui import stdin_is_terminal

    shaping = ("targets", "replace", "retrigger_unknown", "force", "allow_empty")
    if plan_file and (paths or any(kwargs.get(name) for name in shaping)):
        raise UsageError(
            "--plan FILE applies the saved plan as it was reviewed: give no PATH, --target, "
            "--replace, --retrigger-unknown, --force or --allow-empty (give them to "
            "`reconciler plan --out FILE` instead)"
        )
    return run(
        _session(**kwargs),
        _plan_opts(paths, kwargs),
        plan_file=plan_file,
        auto_approve=auto_approve,
        parallelism=parallelism,
        interactive=stdin_is_terminal(),
    )


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@_run_options
@click.option("--target", "targets", multiple=True, metavar="KEY", help="Cancel only this run.")
@click.option(
    "--force",
    is_flag=True,
    help="Cancel every tracked run even when no spec files are found (protect marks unknown).",
)
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


@cli.command()
def schema() -> int:
    """Print the JSON Schema of spec files (for editors)."""
    import json

    from reconciler.spec.schema import spec_json_schema

    click.echo(json.dumps(spec_json_schema(), indent=2, sort_keys=True))
    return 0


def _register_simulator() -> None:
    # The simulator's command lives with the simulator; its module imports aiohttp only when
    # the server really starts, so registering it costs `reconciler --help` nothing.
    from reconciler.simulator.cli import simulator_command

    cli.add_command(simulator_command, "simulator")


_register_simulator()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the CLI and turn every outcome into an exit code.

    Without ``argv`` this is the process's own command line, and the process ends when the
    command does: the cycle collector is paused for it (``reconciler.collector``).
    """
    from reconciler import collector

    if argv is None:
        collector.pause()
    args = sys.argv[1:] if argv is None else argv
    try:
        rv = _run(args)
    finally:
        collector.before_exit()
    sys.exit(rv)


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

    redact = Redactor([os.environ.get(API_KEY_ENV, "").strip()])
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
