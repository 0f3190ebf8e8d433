"""``reconciler simulator``: serve the Probe API simulator in the foreground.

The lead wires ``simulator_command`` into the main group; ``python -m reconciler.simulator``
runs it on its own.
"""

from __future__ import annotations

import os
import sys

import click

from reconciler.api.endpoints import is_loopback
from reconciler.errors import ReconcilerError, UsageError
from reconciler.limits import INT32_MAX, INT32_MIN
from reconciler.simulator.config import DEMO_KEY, STATUS_CASES, KeyGrant, SimulatorConfig
from reconciler.simulator.export import SHAPES, ExportFault, parse_fault_option
from reconciler.simulator.outcomes import OutcomeError, OutcomeRule, parse_outcome_option

_SHARE = click.FloatRange(0.0, 1.0)
_SECONDS = click.FloatRange(min=0.0)


def parse_keys(values: tuple[str, ...], env_key: str | None) -> dict[str, KeyGrant]:
    """``--key KEY[:WS1,WS2]`` values as grants; without any, ``SPLX_API_KEY`` or the demo key.

    Keys are labelled by where they came from (``--key #2``, ``SPLX_API_KEY``, ``demo``) so
    that output and the request log can name them without showing them.
    """
    if not values:
        if env_key:
            return {env_key: KeyGrant(label="SPLX_API_KEY")}
        return {DEMO_KEY: KeyGrant(label="demo")}
    grants: dict[str, KeyGrant] = {}
    for index, value in enumerate(values, start=1):
        label = f"--key #{index}"
        secret, sep, tail = value.rpartition(":")
        if not sep:
            grants[value] = KeyGrant(label=label)
            continue
        grants[secret] = KeyGrant(label=label, workspaces=_workspaces(label, tail))
    return grants


def parse_outcomes(values: tuple[str, ...]) -> tuple[OutcomeRule, ...]:
    """``--outcome`` values as rules; a ``UsageError`` naming the option and the bad part."""
    rules = []
    for value in values:
        try:
            rules.append(parse_outcome_option(value))
        except OutcomeError as err:
            raise UsageError(f"simulator: --outcome {value!r}: {err.message}") from None
    return tuple(rules)


def parse_export_faults(values: tuple[str, ...]) -> tuple[ExportFault, ...]:
    """``--export-fault`` values; a ``UsageError`` naming the option and what is wrong."""
    faults = []
    for value in values:
        try:
            faults.append(parse_fault_option(value))
        except OutcomeError as err:
            raise UsageError(f"simulator: --export-fault {err.message}") from None
    return tuple(faults)


def _workspaces(label: str, tail: str) -> frozenset[int]:
    try:
        workspaces = frozenset(int(part) for part in tail.split(","))
    except ValueError:
        workspaces = frozenset()
    if not workspaces or not all(INT32_MIN <= ws <= INT32_MAX for ws in workspaces):
        # Never echo the value: it holds the key.
        raise UsageError(
            f"simulator: {label}: the part after the last ':' must be workspace ids separated "
            "by commas, e.g. --key MYKEY:1234,5678 (or no ':' for every workspace)"
        )
    return workspaces


@click.command("simulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--allow-remote", is_flag=True, help="Allow a --host other than loopback (not recommended)."
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Port to listen on; 0 picks a free one (the URL line shows which).",
)
@click.option(
    "--key",
    "keys",
    multiple=True,
    metavar="KEY[:WS1,WS2]",
    help="Accepted X-Api-Key, optionally limited to workspaces; repeatable. "
    f"Default: $SPLX_API_KEY if set, else the demo key {DEMO_KEY!r}.",
)
@click.option(
    "--start-after",
    type=_SECONDS,
    default=0.5,
    show_default=True,
    help="Seconds a run stays Pending before it is Running.",
)
@click.option(
    "--finish-after",
    type=_SECONDS,
    default=0.0,
    show_default=True,
    help="Seconds after which a run is Finished by itself; 0 means never.",
)
@click.option(
    "--run-error-rate",
    type=_SHARE,
    default=0.0,
    show_default=True,
    help="Share of runs that end as Error instead of Finished.",
)
@click.option(
    "--latency",
    type=_SECONDS,
    default=0.0,
    show_default=True,
    help="Seconds every API request waits before it is handled.",
)
@click.option(
    "--error-rate",
    type=_SHARE,
    default=0.0,
    show_default=True,
    help="Share of API requests answered 500 without doing anything.",
)
@click.option(
    "--rate-limit-rate",
    type=_SHARE,
    default=0.0,
    show_default=True,
    help="Share of API requests answered 429 with Retry-After.",
)
@click.option(
    "--retry-after",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Seconds given in Retry-After of 429 answers.",
)
@click.option(
    "--drop-rate",
    type=_SHARE,
    default=0.0,
    show_default=True,
    help="Share of triggers whose run is created, then the connection is dropped.",
)
@click.option(
    "--error-after-trigger-rate",
    type=_SHARE,
    default=0.0,
    show_default=True,
    help="Share of triggers whose run is created, then answered 500.",
)
@click.option("--seed", type=int, default=None, help="Seed that makes injected faults repeatable.")
@click.option(
    "--first-run-id",
    type=click.IntRange(1, INT32_MAX),
    default=1000,
    show_default=True,
    help="testRunId of the first run.",
)
@click.option(
    "--time-scale",
    type=click.FloatRange(min=0.0, min_open=True),
    default=1.0,
    show_default=True,
    help="How many times faster than real time runs move (3600: an hour a second). "
    'POST /_simulator/clock {"advance": S} jumps ahead.',
)
@click.option(
    "--status-case",
    type=click.Choice(STATUS_CASES),
    default="product",
    show_default=True,
    help="Spelling of statuses in the status document: product (Finished) or upper (FINISHED).",
)
@click.option(
    "--test-cases",
    type=click.IntRange(0, 1_000_000),
    default=20,
    show_default=True,
    help="Test cases per probe run.",
)
@click.option(
    "--outcome",
    "outcomes",
    multiple=True,
    metavar="GLOB=PART,...",
    help="What runs whose name matches GLOB end as; repeatable, the last match wins. Parts: "
    "status:Finished|Error, failed:N, errored:N (per run), failed@PROBE:N, errored@PROBE:N "
    "(per probe id), finishAfter:SECONDS, failAttack:ATTACK_ID (repeatable), "
    "omitProbeRunId:true. E.g. --outcome 'Nightly*=failed:4,errored:1,failAttack:CTLO-101-7'.",
)
@click.option(
    "--findings-shape",
    type=click.Choice(tuple(SHAPES)),
    default="object",
    show_default=True,
    help='How the test-case export wraps its list: object ({"testCases": [...], "totalCount"}), '
    "array (bare), or an items/data/testCaseResults key. The real shape is undocumented.",
)
@click.option(
    "--export-fault",
    "export_faults",
    multiple=True,
    metavar="[GLOB=]KIND[:ARG]",
    help="Make the test-case export of runs whose name matches GLOB (default: all) answer "
    "badly; repeatable, the last match wins. KIND: html, not-json, no-list, no-attack, "
    "duplicates, status:CODE, delay:SECONDS.",
)
@click.option(
    "--content-marker",
    default=None,
    metavar="TEXT",
    help="Append TEXT to every prompt and response of every test case (to look for content "
    "where it must not be).",
)
def simulator_command(
    *,
    host: str,
    allow_remote: bool,
    port: int,
    keys: tuple[str, ...],
    start_after: float,
    finish_after: float,
    run_error_rate: float,
    latency: float,
    error_rate: float,
    rate_limit_rate: float,
    retry_after: int,
    drop_rate: float,
    error_after_trigger_rate: float,
    seed: int | None,
    first_run_id: int,
    time_scale: float,
    status_case: str,
    test_cases: int,
    outcomes: tuple[str, ...],
    findings_shape: str,
    export_faults: tuple[str, ...],
    content_marker: str | None,
) -> None:
    """Serve a strict local simulator of the SPLX Probe API, to try specs and pipelines
    without spending probe credits. Point the tool at it with --api-url or SPLX_API_URL.

    Inspect what it received at GET /_simulator/runs and /_simulator/requests; control it
    (clock, outcomes, cancel or delete a run as from the web UI) under /_simulator/, see
    docs/SIMULATOR.md.
    Stops on Ctrl-C or SIGTERM; everything it holds is in memory and is lost then.
    """
    try:
        # aiohttp loads only once the simulator is really started.
        from reconciler.simulator.server import serve_forever

        if not is_loopback(host) and not allow_remote:
            raise UsageError(
                f"simulator: refusing to listen on {host}, which other machines may reach; "
                "use --host 127.0.0.1, or add --allow-remote if you really mean it"
            )
        grants = parse_keys(keys, os.environ.get("SPLX_API_KEY"))
        config = SimulatorConfig(
            keys=grants,
            start_after=start_after,
            finish_after=finish_after or None,
            run_error_rate=run_error_rate,
            latency=latency,
            error_rate=error_rate,
            rate_limit_rate=rate_limit_rate,
            retry_after=retry_after,
            drop_after_trigger_rate=drop_rate,
            error_after_trigger_rate=error_after_trigger_rate,
            seed=seed,
            first_run_id=first_run_id,
            time_scale=time_scale,
            status_case=status_case,
            test_cases_per_probe=test_cases,
            outcomes=parse_outcomes(outcomes),
            findings_shape=findings_shape,
            export_faults=parse_export_faults(export_faults),
            content_marker=content_marker or None,
        )
        # A server lives long and makes garbage cycles: the collector runs again.
        from reconciler import collector

        collector.resume()
        serve_forever(host, port, config, on_ready=lambda url: _announce(url, grants))
    except ReconcilerError as err:
        raise click.ClickException(str(err)) from err
    click.echo("simulator: stopped", err=True)


def _announce(url: str, grants: dict[str, KeyGrant]) -> None:
    labels = ", ".join(grant.label for grant in grants.values())
    # The demo key is public and users need it; any other key is only named by its label.
    demo = f" (X-Api-Key: {DEMO_KEY})" if DEMO_KEY in grants else ""
    click.echo(f"Probe API simulator listening on {url} keys: {labels}{demo}")
    # The line is what scripts wait for: make sure it leaves the buffer now.
    sys.stdout.flush()
