"""What the shared options become: the command's ``Session`` (``Settings`` from the options,
the project config and the environment), ``PlanOptions`` and ``WaitSettings``.

The ``reconciler.commands`` modules they come from are imported on call, so that building a
command's wiring (for --help) imports none of them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import click

from reconciler.defaults import DEFAULT_STATE

if TYPE_CHECKING:
    from reconciler.commands.common import Session
    from reconciler.commands.planning import PlanOptions
    from reconciler.commands.waiting import WaitSettings


def refresh_wanted(kwargs: dict[str, Any]) -> bool:
    refresh, no_refresh = kwargs.get("refresh"), bool(kwargs.get("no_refresh"))
    if refresh is True and no_refresh:
        from reconciler.errors import UsageError

        raise UsageError("--refresh=true and --no-refresh contradict each other: give one")
    return not no_refresh and refresh is not False


def wait_settings_from(
    kwargs: dict[str, Any], *, fmt: str = "text", parallelism: int
) -> WaitSettings:
    from reconciler.commands.common import parse_duration
    from reconciler.commands.waiting import WaitSettings

    return WaitSettings(
        timeout=parse_duration(kwargs.get("timeout") or "2h", "--timeout"),
        interval=parse_duration(kwargs.get("interval") or "30s", "--interval"),
        junit=kwargs.get("junit") or None,
        fmt=fmt,
        parallelism=parallelism,
        sarif=kwargs.get("sarif") or None,
        findings=not kwargs.get("no_findings"),
    )


def session(**kwargs: Any) -> Session:
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
        retry_max_delay=duration_or_none(kwargs.get("retry_max_delay"), "--retry-max-delay"),
        request_timeout=duration_or_none(kwargs.get("request_timeout"), "--request-timeout"),
        no_color=bool(kwargs.get("no_color")),
        quiet=bool(kwargs.get("quiet")),
        verbose=bool(kwargs.get("verbose")),
        debug=bool(kwargs.get("debug")),
        env=dict(os.environ),
    )
    return Session(settings)


def duration_or_none(text: str | None, option: str) -> float | None:
    from reconciler.commands.common import parse_duration

    return None if text is None else parse_duration(text, option)


def plan_options_from(
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
        refresh=refresh_wanted(kwargs),
    )
