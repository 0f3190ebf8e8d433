"""The options several commands share, each declared once: state, lock, API, refresh,
parallelism, output, waiting, findings content and plan shaping.

Decorators only: what the values become (``Settings``, ``PlanOptions``, ``WaitSettings``) is
``reconciler.cli.settings``. This module imports click and ``reconciler.defaults`` alone, since
every command's module imports it, and `reconciler --help` imports every command's module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from reconciler.defaults import DEFAULT_PARALLELISM, DEFAULT_STATE

F = TypeVar("F", bound=Callable[..., Any])


def lock_option(func: F) -> F:
    """For the commands that take the state lock (they write state)."""
    return click.option(
        "--lock-timeout",
        default="0s",
        show_default=True,
        metavar="DURATION",
        help="Wait this long for the state lock (e.g. 30s, 5m) before giving up.",
    )(func)


def state_option(func: F) -> F:
    return click.option(
        "--state",
        "state",
        envvar="RECONCILER_STATE",
        default=DEFAULT_STATE,
        show_default=True,
        metavar="FILE|URL",
        help="State location: a JSON file, or a postgresql:// URL. Env: RECONCILER_STATE.",
    )(func)


def state_options(func: F) -> F:
    """--state and --lock-timeout, for the commands that write state."""
    return state_option(lock_option(func))


def parallelism_option(func: F) -> F:
    return click.option(
        "--parallelism",
        default=DEFAULT_PARALLELISM,
        show_default=True,
        type=click.IntRange(min=1, max=256),
        help="Concurrent API requests.",
    )(func)


def run_options(func: F) -> F:
    """How apply and destroy execute: approval and concurrency."""
    func = parallelism_option(func)
    return click.option("--auto-approve", is_flag=True, help="Skip the interactive approval.")(func)


def refresh_options(func: F) -> F:
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


def platform_option(func: F) -> F:
    return click.option(
        "--platform-url",
        default=None,
        metavar="URL",
        help="SPLX Probe web UI that run links point to (env SPLX_PLATFORM_URL; default the "
        "region's, https://probe.splx.ai for eu).",
    )(func)


def api_options(func: F) -> F:
    func = platform_option(func)
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


def output_options(func: F) -> F:
    func = click.option("--debug", is_flag=True, help="Log every request (never the API key).")(
        func
    )
    func = click.option("-v", "--verbose", is_flag=True, help="Say more.")(func)
    func = click.option("-q", "--quiet", is_flag=True, help="Print only results and errors.")(func)
    return click.option("--no-color", is_flag=True, help="No colour (also: NO_COLOR=1).")(func)


def no_findings_option(func: F) -> F:
    return click.option(
        "--no-findings",
        is_flag=True,
        help="Do not read the findings (failed test cases) of runs that ended with failures.",
    )(func)


def content_options(func: F) -> F:
    """--include-content and --content-limit: declared once for `findings` and `report`."""
    func = click.option(
        "--content-limit",
        type=click.IntRange(min=1),
        default=500,
        show_default=True,
        metavar="N",
        help="Cut each message at N characters (with --include-content).",
    )(func)
    return click.option(
        "--include-content",
        is_flag=True,
        help="Show each finding's messages (the attack sent, the target's answer): sensitive, "
        "read again from the API, never recorded.",
    )(func)


def wait_options(func: F) -> F:
    """--timeout, --interval, --junit, --sarif and --no-findings: declared once for `wait`
    and `apply --wait`."""
    func = no_findings_option(func)
    func = click.option(
        "--sarif",
        metavar="FILE",
        default=None,
        help="Write the findings as SARIF 2.1.0, for GitHub code scanning (checked before "
        "waiting).",
    )(func)
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


def plan_options(func: F) -> F:
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
