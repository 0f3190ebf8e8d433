"""``validate``, ``plan``, ``apply`` and ``destroy``: each a function returning an exit code."""

from __future__ import annotations

import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING

from reconciler import logs
from reconciler.collector import leave_to_exit
from reconciler.commands.common import Session, gates_of, load_desired, report_store_notes
from reconciler.defaults import DEFAULT_PARALLELISM
from reconciler.errors import AbortedError, StalePlanError, UnsafePlanError, UsageError
from reconciler.plan.model import Action

if TYPE_CHECKING:
    from reconciler.api.base import CancelOutcome, ProbeApi
    from reconciler.apply import ApplyResult
    from reconciler.commands.waiting import WaitSettings
    from reconciler.plan.model import Plan
    from reconciler.records import RunAttributes
    from reconciler.spec.model import DesiredSet
    from reconciler.state.model import State
    from reconciler.state.store import StateStore

log = logs.Log("reconciler.cli")

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_INTERRUPTED = 130

#: A second interrupt within this many seconds of the first is the same user action.
_SECOND_INTERRUPT_GRACE = 0.5


# Never printed or compared: no __repr__ or __eq__ to compile at import (docs/ARCHITECTURE.md).
@dataclass(repr=False, eq=False)
class PlanOptions:
    """What shapes a plan; recorded in saved plans so apply does exactly what was reviewed."""

    paths: Sequence[str] = ()
    targets: Sequence[str] = ()
    replace: Sequence[str] = ()
    retrigger_unknown: bool = False
    destroy: bool = False
    force: bool = False
    allow_empty: bool = False
    #: Read the status of tracked runs not known to have ended before planning (--refresh).
    refresh: bool = True


def validate(session: Session, paths: Sequence[str]) -> int:
    desired = load_desired(paths, session.settings)
    count = len(desired.runs)
    files = len(desired.files)
    # The verb agrees with the runs, the subject: "1 test run in 2 spec files is valid."
    session.console.out(
        f"Success! {count} test run{'s' if count != 1 else ''} in "
        f"{files} spec file{'s' if files != 1 else ''} "
        f"{'is' if count == 1 else 'are'} valid."
    )
    return EXIT_OK


def _make_plan(
    session: Session,
    desired: DesiredSet,
    state: State,
    options: PlanOptions,
    *,
    parallelism: int,
    offline_ok: bool,
    checksum: bool = True,
) -> Plan:
    """Refresh (unless --refresh=false), plan, and check the plan against the safety rails.
    ``checksum=False``: the plan is neither saved nor rendered as JSON (``make_plan``)."""
    from reconciler.plan.diff import make_plan
    from reconciler.plan.safety import check_plan

    refreshed = None
    # destroy too: a run known to have ended is sent no cancel, and its result is recorded.
    if options.refresh:
        # Imported only when a refresh may happen: --refresh=false stays as light as before.
        from reconciler.commands.refreshing import refresh_for_plan

        refreshed = refresh_for_plan(
            session,
            state,
            desired,
            targets=options.targets,
            parallelism=parallelism,
            offline_ok=offline_ok,
        )
    plan = make_plan(
        desired,
        state,
        targets=options.targets,
        replace=options.replace,
        retrigger_unknown=options.retrigger_unknown,
        destroy=options.destroy,
        refreshed=refreshed,
        now=session.settings.now(),
        checksum=checksum,
    )
    check_plan(plan, desired, state, force=options.force, allow_empty=options.allow_empty)
    # A saved plan must be checked against the same spec paths it was made from.
    recorded = plan.options._replace(paths=tuple(options.paths))
    return plan._replace(options=recorded)


def plan(
    session: Session,
    options: PlanOptions,
    *,
    out: str | None,
    fmt: str,
    detailed_exitcode: bool,
    parallelism: int = DEFAULT_PARALLELISM,
) -> int:
    from reconciler.plan import render

    if parallelism < 1:
        raise UsageError(f"--parallelism must be at least 1, got {parallelism}")

    desired = load_desired(options.paths, session.settings)
    store = session.store()
    state = store.read()
    report_store_notes(session, store)
    holder = store.lock_holder()
    if holder is not None:
        # plan takes no lock; its view includes what a running apply has journaled so far.
        session.console.warn(
            f"the state is locked by {holder.describe()}: runs that command has in flight show "
            "as unknown outcomes until it finishes (if that process is gone, the next apply "
            "takes the lock over and recovers its journal)."
        )
    # plan records nothing: what the refresh learned is recorded by the next apply (or
    # status), and a saved plan carries it for `apply --plan`.
    the_plan = _make_plan(
        session,
        desired,
        state,
        options,
        parallelism=parallelism,
        offline_ok=True,
        # Only a saved or JSON plan carries the specs' checksum (about 17 M instructions for
        # 1,000 runs): the text and Markdown plans never show it.
        checksum=bool(out) or fmt == "json",
    )
    # A saved plan remembers its state, so it cannot be applied to another one by mistake.
    the_plan = the_plan._replace(options=the_plan.options._replace(state=session.state_identity()))
    if out:
        from reconciler.plan.saved import save_plan

        save_plan(the_plan._replace(tracked_checksum=state.tracked_checksum()), out)
    state_args, paths_args = _hint_args(session, options)
    if fmt == "json":
        session.console.out(render.render_json(the_plan), nl=False)
    elif fmt == "markdown":
        session.console.out(
            render.render_markdown(
                the_plan,
                state_args=state_args,
                paths_args=paths_args,
                platform=session.platform_url(),
            ),
            nl=False,
        )
    else:
        text = render.render_text(
            the_plan, color=session.console.color, state_args=state_args, paths_args=paths_args
        )
        session.console.out(text, nl=False)
        if out:
            session.console.out(
                f"\nSaved the plan to {out}. To perform exactly these actions, run:\n"
                f"    reconciler apply --plan {shlex.quote(out)}{session.state_args()}"
            )
    leave_to_exit(desired, state, the_plan)
    if detailed_exitcode and the_plan.has_changes:
        return EXIT_CHANGES
    return EXIT_OK


def apply(
    session: Session,
    options: PlanOptions,
    *,
    plan_file: str | None,
    auto_approve: bool,
    parallelism: int,
    interactive: bool,
    wait: WaitSettings | None = None,
) -> int:
    """Plan under the state lock, confirm, execute, persist. Also serves ``destroy``.

    ``wait`` (``apply --wait``): then wait for the runs this apply triggered or replaced and
    gate them (``commands.waiting``); an apply that did not succeed exits before waiting.
    """
    if parallelism < 1:
        raise UsageError(f"--parallelism must be at least 1, got {parallelism}")
    if wait is not None:
        wait.check()  # a bad --junit path fails before anything is planned or sent
    session.check_api_settings()
    # Resolved before anything is sent: a bad --platform-url must not fail after the apply.
    platform = session.platform_url()
    store = session.store()
    operation = "destroy" if options.destroy else "apply"
    if options.destroy and not store.exists() and not store.read().runs:
        session.console.out(f"No state at {store.location}: nothing to destroy.")
        return EXIT_OK
    with store.lock(operation, timeout=session.settings.lock_timeout) as held:
        log.info("locked the state for %s (lock id %s)", operation, held.id)
        state = store.recover()
        report_store_notes(session, store)
        the_plan = _plan_under_lock(session, options, state, plan_file, parallelism)
        state = _record_refreshed(store, state, the_plan)
        # A missing key fails before the plan is shown or anything is asked: nothing could be
        # sent without it. A plan that sends nothing (moves, cancels of runs known to have
        # ended) changes only the state and needs no key.
        client = session.client(parallelism=parallelism) if the_plan.sends_requests else _NoApi()
        try:
            # --quiet keeps results only; a plan someone must approve is always shown.
            if not plan_file and not (session.settings.quiet and auto_approve):
                _show(session, options, the_plan)
            unresolved = len(the_plan.by_action(Action.UNKNOWN))
            if not the_plan.actionable and not the_plan.moves:
                return _nothing_to_do(session, options, plan_file, unresolved, wait)
            if not plan_file and not auto_approve:
                _approve(session, operation, interactive=interactive)
            result = _execute(
                session, the_plan, state, store=store, client=client, parallelism=parallelism
            )
        finally:
            client.close()
    code = _summarise(
        session, result, destroy=options.destroy, paths=options.paths, platform=platform
    )
    if code == EXIT_OK and unresolved:
        return _unresolved_exit(session, unresolved, options.paths)
    if wait is None:
        return code
    if code != EXIT_OK:
        session.console.err("The apply did not complete, so nothing is waited for.")
        return code
    return _wait_after_apply(session, store, the_plan, result, wait)


def _nothing_to_do(
    session: Session,
    options: PlanOptions,
    plan_file: str | None,
    unresolved: int,
    wait: WaitSettings | None,
) -> int:
    if plan_file:
        session.console.out("The saved plan has nothing to do.")
    if unresolved:
        return _unresolved_exit(session, unresolved, options.paths)
    if wait is not None:
        return _wait_for_nothing(session, wait)
    return EXIT_OK


def _wait_for_nothing(session: Session, wait: WaitSettings) -> int:
    """``apply --wait`` with no run triggered: say so, and still write the reports."""
    from reconciler.commands.waiting import wait_for

    nothing = (
        "This apply triggered no run, so there is nothing to wait for (`reconciler wait` "
        "waits for every tracked run)."
    )
    return wait_for(session, session.store(), {}, {}, wait, nothing=nothing)


def _wait_after_apply(
    session: Session, store: StateStore, the_plan: Plan, result: ApplyResult, wait: WaitSettings
) -> int:
    """``apply --wait``: the runs this apply triggered or replaced, not older ones."""
    from reconciler.apply import Outcome
    from reconciler.commands.waiting import wait_for

    keys = [r.key for r in result.results if r.outcome in (Outcome.TRIGGERED, Outcome.REPLACED)]
    runs = {key: result.state.runs[key] for key in keys if key in result.state.runs}
    if not runs:
        return _wait_for_nothing(session, wait)
    desired = load_desired(list(the_plan.options.paths), session.settings, missing_ok=True)
    session.console.out("")
    gates = gates_of(session.settings, desired, runs)
    return wait_for(session, store, runs, gates, wait, desired=desired)


def _record_refreshed(store: StateStore, state: State, the_plan: Plan) -> State:
    """Record the final results the plan's refresh read (a fresh plan's, or the saved plan's,
    checked fresh against ``state`` already), before anything is sent.

    One ``persist`` of the folded records rather than one journal append each: results are
    facts that cannot change, so there is no request to bracket, and an fsync per record
    would make the first apply over 1,000 finished runs seconds slower. If the apply dies
    after this, the results are kept; if before, the next refresh reads them again.
    """
    from reconciler.commands.refreshing import result_records
    from reconciler.state.model import fold

    records = result_records(the_plan)
    if not records:
        return state
    after = fold(state, records)
    if after is not state:
        store.persist(after)
    log.info("recorded %d final result(s) read by the refresh", len(records))
    return after


def _plan_under_lock(
    session: Session,
    options: PlanOptions,
    state: State,
    plan_file: str | None,
    parallelism: int,
) -> Plan:
    """The saved plan (checked fresh), or a new one."""
    if plan_file:
        return _load_saved(plan_file, state, session)
    desired = load_desired(options.paths, session.settings, missing_ok=options.destroy)
    if options.destroy and not desired.files and state.runs:
        if not options.force:
            raise UnsafePlanError(
                "destroy found no spec files, so it cannot honour `protect: true` marks. Run "
                "it from the project directory or give the spec PATH; to cancel every tracked "
                "run regardless, add --force."
            )
        session.console.warn(
            "no spec files were found: `protect: true` marks cannot be checked, and --force "
            "cancels every tracked run, protected or not."
        )
    # Without a key, apply skips the refresh as plan does: a plan of moves alone still needs
    # none, and any plan that sends something fails on the missing key before it is shown.
    return _make_plan(session, desired, state, options, parallelism=parallelism, offline_ok=True)


def _show(session: Session, options: PlanOptions, the_plan: Plan) -> None:
    from reconciler.plan import render

    state_args, paths_args = _hint_args(session, options)
    text = render.render_text(
        the_plan, color=session.console.color, state_args=state_args, paths_args=paths_args
    )
    session.console.out(text, nl=False)


def _hint_args(session: Session, options: PlanOptions) -> tuple[str, str]:
    """What the next-step commands a plan suggests must repeat to act on the same state and
    specs: a --state given on the command line, and explicit spec paths."""
    return session.state_args(), shlex.join(options.paths) if options.paths else ""


def _approve(session: Session, operation: str, *, interactive: bool) -> None:
    """Terraform's rule: ask on a terminal, refuse to guess without one."""
    if not interactive:
        raise UsageError(_no_terminal_message(operation))
    from reconciler.ui import confirm

    verb = "cancel every tracked run" if operation == "destroy" else "perform these actions"
    if not confirm(session.console, f"\nDo you want to {verb}?"):
        raise AbortedError(f"{operation} cancelled: nothing was sent.")


def _no_terminal_message(operation: str) -> str:
    if operation == "destroy":
        return (
            "destroy needs approval, but there is no terminal to ask on. Review what it would "
            "cancel (`reconciler state list`), then re-run with --auto-approve."
        )
    return (
        "apply needs approval, but there is no terminal to ask on. Review the plan above, then "
        "re-run with --auto-approve, or save it with `reconciler plan --out FILE` and run "
        "`reconciler apply --plan FILE` (a saved plan is already approved)."
    )


def _unresolved_exit(session: Session, count: int, paths: Sequence[str]) -> int:
    """Runs whose earlier trigger has an unknown outcome block a clean exit: CI must not show
    green while runs may exist that nothing tracks."""
    runs = f"{count} run{'s' if count != 1 else ''}"
    session.console.error(
        f"{runs} still {'have' if count != 1 else 'has'} an unknown outcome from an earlier "
        f"apply and {'were' if count != 1 else 'was'} left alone. "
        + _resolve_unknown(session, paths)
    )
    return EXIT_ERROR


def _resolve_unknown(session: Session, paths: Sequence[str]) -> str:
    """The one explanation of how to resolve unknown outcomes, repeating this command's spec
    PATHs and --state so that every command works as pasted."""
    state = session.state_args()
    specs = f" {shlex.join(paths)}" if paths else ""
    return (
        f"`reconciler plan{specs}{state}` lists them; resolve each with `reconciler import KEY "
        f"TEST_RUN_ID{specs}{state}` if the run exists, `reconciler state rm KEY{state}` to "
        f"forget it, or `reconciler apply{specs} --retrigger-unknown --target KEY{state}` to "
        "trigger it again."
    )


class _NoApi:
    """Stands in for the API client when a plan sends nothing (moves, cancels of ended runs)."""

    def trigger(self, attributes: RunAttributes, *, key: str) -> int:
        raise AssertionError(f"internal error: trigger of {key!r} in a plan that sends nothing")

    def cancel(self, workspace_id: int, test_run_id: int, *, key: str) -> CancelOutcome:
        raise AssertionError(f"internal error: cancel of {key!r} in a plan that sends nothing")

    def close(self) -> None:
        """Nothing to close."""


def _load_saved(plan_file: str, state: State, session: Session) -> Plan:
    from reconciler.plan.saved import check_fresh, load_plan

    saved = load_plan(plan_file)
    made_for, here = saved.options.state, session.state_identity()
    if made_for is not None and made_for != here:
        raise StalePlanError(
            f"{plan_file} was made for the state at {made_for}, not {here}: apply it with "
            f"`--state {shlex.quote(made_for)}`, or make a new plan for this state."
        )
    paths = list(saved.options.paths)
    desired = load_desired(paths, session.settings)
    specs = f" {shlex.join(paths)}" if paths else ""
    check_fresh(saved, state, desired, plan_file=plan_file, plan_args=specs + session.state_args())
    return saved


def _execute(
    session: Session,
    the_plan: Plan,
    state: State,
    *,
    store: StateStore,
    client: ProbeApi,
    parallelism: int,
) -> ApplyResult:
    # Imported here: only apply's executor handles signals, and a plan would pay about 4 M
    # instructions for the import.
    import signal

    from reconciler import collector
    from reconciler.apply import Executor
    from reconciler.ui import ProgressReporter, live_progress_wanted

    # Thousands of requests make garbage cycles: the collector runs again from here on.
    collector.resume()
    console = session.console
    total = len(the_plan.actionable)
    live = live_progress_wanted(console.err_stream, session.settings.env)
    settings = session.settings
    reporter = ProgressReporter(
        console, total, live=live, verbose=settings.verbose or settings.debug
    )
    executor = Executor(client, store, parallelism=parallelism, on_progress=reporter)
    first_interrupt: float | None = None

    def on_interrupt(signum: int, _frame: FrameType | None) -> None:
        nonlocal first_interrupt
        now = time.monotonic()
        if first_interrupt is None:
            first_interrupt = now
            what = "Terminate signal" if signum == signal.SIGTERM else "Interrupt"
            console.err(
                f"\n{what} received: no new operations will start; waiting for those in "
                "flight to finish. Press Ctrl-C again to abandon them (they will be recorded "
                "as unknown outcomes)."
            )
        elif now - first_interrupt < _SECOND_INTERRUPT_GRACE:
            # `timeout -s INT` and some CI runners signal the process and then its group at
            # once: one user action, so not the second Ctrl-C that abandons work in flight.
            return
        raise KeyboardInterrupt

    # SIGTERM (CI cancelling a job, `docker stop`) gets the same graceful stop as Ctrl-C.
    previous = {sig: signal.signal(sig, on_interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return executor.run(the_plan, state)
    finally:
        reporter.finish()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _summarise(
    session: Session,
    result: ApplyResult,
    *,
    destroy: bool,
    paths: Sequence[str],
    platform: str,
) -> int:
    from reconciler.apply import Outcome

    console = session.console
    fatal = str(result.fatal) if result.fatal is not None else None
    # The fatal error is printed once, at the end: not again for each run it stopped.
    failures = [
        r
        for r in result.results
        if not r.outcome.ok and r.outcome is not Outcome.SKIPPED and r.message != fatal
    ]
    if failures:
        console.err(
            f"\n{len(failures)} operation{'s' if len(failures) != 1 else ''} did not succeed:"
        )
    for failed in failures:
        console.err(f"  ! {failed.key}: {failed.outcome.value}: {failed.message}")
    triggered = result.count(Outcome.TRIGGERED)
    replaced = result.count(Outcome.REPLACED)
    cancelled = result.count(Outcome.CANCELLED)
    ended = result.count(Outcome.NOTHING_TO_CANCEL)
    failed_n = result.count(Outcome.FAILED)
    unknown = result.count(Outcome.UNKNOWN)
    skipped = result.count(Outcome.SKIPPED)
    verb = "Destroy" if destroy else "Apply"
    status = "complete" if result.succeeded else "incomplete"
    line = (
        f"{verb} {status}! {triggered} triggered, {replaced} replaced, {cancelled} cancelled"
        f"{f', {ended} already ended' if ended else ''}"
        f"{f', {result.moved} moved' if result.moved else ''}"
        f", {failed_n} failed, {unknown} unknown, {skipped} not started"
        f" ({result.elapsed:.1f}s)."
    )
    console.out(console.style(line, "green" if result.succeeded else "red", bold=True))
    for link in _run_links(result, platform):
        console.out(link)
    if fatal is not None:
        console.error(fatal)
    # Only triggers leave unknown entries; an abandoned cancel just stays in state, and its
    # own line says the next apply repeats it.
    if any(run.status == "unknown" for run in result.state.runs.values()):
        console.err(
            "Some triggers may or may not have created a run. " + _resolve_unknown(session, paths)
        )
    if result.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if result.succeeded else EXIT_ERROR


def _run_links(result: ApplyResult, platform: str) -> list[str]:
    """``  + KEY: run ID URL`` for every run this apply triggered, in key order: where to
    watch what it finds (the per-operation lines only go to a log, and not on a terminal)."""
    from reconciler.apply import Outcome
    from reconciler.results.links import run_url

    markers = {Outcome.TRIGGERED: "+", Outcome.REPLACED: "-/+"}
    lines = []
    for done in sorted(result.results, key=lambda r: r.key):
        run = result.state.runs.get(done.key)
        if done.outcome not in markers or done.test_run_id is None or run is None:
            continue
        attributes = run.attributes
        url = run_url(platform, attributes.workspace_id, attributes.target_id, done.test_run_id)
        lines.append(f"  {markers[done.outcome]} {done.key}: run {done.test_run_id} {url}")
    return lines
