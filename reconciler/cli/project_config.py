"""The project config (reconciler.yaml) on the command line: ``--config FILE``/``--no-config``
before the command name (the root group's) or after it (``ConfigCommand``'s), read before the
command's other options so that its settings become their defaults."""

from __future__ import annotations

from typing import Any

import click


def config_params(*, expose: bool = True) -> list[click.Parameter]:
    """``--config FILE`` and ``--no-config``: of the group, and of each command reading it
    (where ``ConfigCommand.parse_args`` reads them, so command functions never see them)."""
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
CONFIG_CHOICE = "reconciler.config_choice"


class ConfigCommand(click.Command):
    """A command that reads the project config (every command but ``schema`` and
    ``simulator``). It takes ``--config FILE``/``--no-config`` after its name too, as
    Terraform users type them, with the same meaning as before it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.extend(config_params(expose=False))

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # The config supplies defaults (the state location) that the other options take while
        # they are parsed, so it is read first: one parse just for --config and --no-config.
        if not ctx.resilient_parsing:
            opts, _, _ = self.make_parser(ctx).parse_args(args=list(args))
            helper = self.get_help_option(ctx)
            if helper is None or opts.get(helper.name or "") is not True:
                given = opts.get("config_file")
                use_project_config(
                    ctx, given if isinstance(given, str) else None, opts.get("no_config") is True
                )
        return super().parse_args(ctx, args)


class ConfigGroup(click.Group):
    """A group whose commands read the project config (``state``'s)."""

    command_class = ConfigCommand


def check_config_choice(config_file: str | None, no_config: bool) -> None:
    if no_config and config_file:
        from reconciler.errors import UsageError

        raise UsageError("--config FILE and --no-config contradict each other: give one")


def use_project_config(ctx: click.Context, config_file: str | None, no_config: bool) -> None:
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

    before, no_before = ctx.meta.get(CONFIG_CHOICE, (None, False))
    if before and config_file and Path(before).resolve() != Path(config_file).resolve():
        raise UsageError(
            f"--config is given twice with different files: {before} (before the command) "
            f"and {config_file} (after it): give it once"
        )
    config_file = config_file or before
    no_config = no_config or no_before
    check_config_choice(config_file, no_config)
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
