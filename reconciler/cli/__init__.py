"""The ``reconciler`` command line: the root group, and ``main`` turning every outcome into
an exit code.

Each command's click wiring is a module of this package (``plan.py``, ``state.py``...; the
simulator's is ``reconciler.simulator.cli``), imported only when that command runs or the root
--help lists them (``lazy.py``). Options several commands share are declared once in
``options.py``; ``settings.py`` turns them into the ``Session`` and options that the command's
function in ``reconciler.commands`` takes; ``project_config.py`` reads reconciler.yaml.

Exit codes: a ``ReconcilerError`` gives its own (1 unless it says otherwise) with its message,
never a traceback; click's usage errors give 1 too (2 means "the plan has changes");
interrupts give 130. Heavy libraries (pydantic, httpx, deepdiff, aiohttp) are imported inside
commands, so that ``reconciler --help`` starts fast.
"""

from __future__ import annotations

import os
import sys

import click

from reconciler.cli.lazy import LazyGroup
from reconciler.cli.project_config import CONFIG_CHOICE, check_config_choice, config_params
from reconciler.defaults import API_KEY_ENV, DISTRIBUTION

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130

#: Every command: its name -> "module:attribute" of its click command.
COMMANDS = {
    "apply": "reconciler.cli.apply:apply",
    "destroy": "reconciler.cli.destroy:destroy",
    "findings": "reconciler.cli.findings:findings",
    "force-unlock": "reconciler.cli.force_unlock:force_unlock",
    "import": "reconciler.cli.import_:import_",
    "plan": "reconciler.cli.plan:plan",
    "report": "reconciler.cli.report:report",
    "schema": "reconciler.cli.schema:schema",
    # The simulator's command lives with the simulator (its options, aiohttp behind them).
    "simulator": "reconciler.simulator.cli:simulator_command",
    "state": "reconciler.cli.state:state",
    "status": "reconciler.cli.status:status",
    "validate": "reconciler.cli.validate:validate",
    "wait": "reconciler.cli.wait:wait",
}


@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    params=config_params(),
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
# The version of the installed distribution, read from its metadata only when --version is
# given (click looks it up lazily), so `reconciler --help` pays nothing for it.
@click.version_option(package_name=DISTRIBUTION, prog_name="reconciler")
@click.pass_context
def cli(ctx: click.Context, config_file: str | None, no_config: bool) -> None:
    """SPLX Probe test runs as code: declare runs in YAML, review a plan, apply it."""
    check_config_choice(config_file, no_config)
    ctx.meta[CONFIG_CHOICE] = (config_file, no_config)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the CLI and turn every outcome into an exit code.

    Without ``argv`` this is the process's own command line, and the process ends when the
    command does: the cycle collector is paused for it and the interpreter's teardown is
    skipped (``reconciler.collector``), so this never returns. With ``argv`` the caller lives
    on, so the command's logging set-up is undone when it ends.
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
    if argv is None:
        collector.end_process(rv)
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
