"""Plan renderers: text for terminals, JSON for machines, markdown for pull-request comments.

Each renderer is a pure function of a ``Plan`` returning a string; the CLI decides where it goes
and (with ``should_color``) whether the text is coloured. None of them recomputes the plan.
No-op keys are left out of the text and markdown views (as Terraform does) and kept in JSON.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

from reconciler import __version__
from reconciler.markdown import (
    MARKDOWN_LIMIT,
    fit_blocks,
    longest_backtick_run,
    md_code,
    md_html,
    md_text,
    utf16_units,
)
from reconciler.plan.model import Action, Change, Observed, Plan
from reconciler.records import show_probe_ids
from reconciler.results.links import run_url
from reconciler.state.model import TrackedRun

#: Version of the JSON plan document; bumped on any incompatible change of its shape.
JSON_FORMAT_VERSION = "1.1"
#: GitHub refuses comment bodies longer than this, counted in UTF-16 code units (what
#: JavaScript's ``length`` counts: an emoji such as 🟢 is two of them).
GITHUB_COMMENT_LIMIT = 65536
#: Default budget of ``render_markdown``, in UTF-16 code units. It leaves room under
#: ``GITHUB_COMMENT_LIMIT`` for what the CI workflow puts around the plan (a hidden marker and a
#: "Plan for <commit>" line), so the workflow never has to cut reconciler's output itself.

NO_CHANGES = "No changes. The test runs match the specs."

_MARKERS = {
    Action.TRIGGER: "+",
    Action.REPLACE: "-/+",
    Action.CANCEL: "-",
    Action.UNKNOWN: "!",
}
_RESET = "\x1b[0m"
_COLORS = {
    Action.TRIGGER: "\x1b[32m",  # green
    Action.REPLACE: "\x1b[33m",  # yellow
    Action.CANCEL: "\x1b[31m",  # red
    Action.UNKNOWN: "\x1b[1;35m",  # bold magenta: it needs a decision
}
_BOLD = "\x1b[1m"
_DIM = "\x1b[2m"
_RED = "\x1b[31m"

_SHOWN = (Action.TRIGGER, Action.REPLACE, Action.CANCEL)


# --- shared pieces -----------------------------------------------------------------------------


def summary_line(plan: Plan) -> str:
    """``Plan: 2 to trigger, 1 to replace, 1 to cancel.`` or the no-changes sentence."""
    if not plan.has_changes:
        return NO_CHANGES
    counts = plan.counts()
    moves = len(plan.moves)
    return (
        f"Plan: {counts[Action.TRIGGER]} to trigger, {counts[Action.REPLACE]} to replace, "
        f"{counts[Action.CANCEL]} to cancel{f', {moves} to move' if moves else ''}."
    )


def _unreadable_line(changes: list[Change], code: Callable[[str], str] = str) -> str:
    count = len(changes)
    runs = f"{count} run{'s' if count != 1 else ''}"
    keys = ", ".join(code(c.key) for c in changes)
    return f"Note: the status of {runs} could not be read; planned as if not refreshed: {keys}"


def _unknown_line(count: int) -> str:
    noun = "outcome" if count == 1 else "outcomes"
    return f"{count} unknown trigger {noun} to resolve before apply touches those keys."


def _value(value: Any, name: str = "") -> str:
    if name == "probeIds" and value is None:
        return show_probe_ids(None)
    import json  # here: a plan without changes shows no values

    return json.dumps(value, ensure_ascii=False)


def _command(*parts: str) -> str:
    # Callers may pass their extra arguments with or without a leading space.
    return " ".join(part.strip() for part in parts if part.strip())


def _next_steps(change: Change, state_args: str, paths_args: str) -> list[tuple[str, str]]:
    """What the user can do about an unknown outcome, as (situation, command) pairs.

    ``state_args`` end every command (so it acts on the same state as the plan) and
    ``paths_args`` follow ``apply`` and ``import`` (so they read the same specs).
    """
    key = shlex.quote(change.key)  # matrix keys hold [ ] =, which shells would glob
    steps = [
        (
            "if the run exists",
            # import reads the key's attributes from the specs: it needs the same PATHs.
            _command(f"reconciler import {key} TEST_RUN_ID", paths_args, state_args),
        ),
        ("to forget it", _command(f"reconciler state rm {key}", state_args)),
    ]
    if change.after is not None:
        retrigger = _command(
            "reconciler apply", paths_args, f"--retrigger-unknown --target {key}", state_args
        )
        steps.append(("to trigger it again", retrigger))
    return steps


def _old_run_note(change: Change) -> str:
    """What happens to the tracked run of a replace or of a trigger that has one."""
    run = _tracked(change)
    if run.status == "unknown":
        # The first attempt may have created a run that nothing will track.
        return (
            f"the trigger sent at {run.triggered_at} may also have created a run; "
            "it stays untracked"
        )
    ended = _ended(change, run)
    if ended is None:
        return f"{_run_id(run)} is cancelled, then a new run triggered"
    return f"{ended}: nothing to cancel, a new run is triggered"


def _ended(change: Change, run: TrackedRun) -> str | None:
    """``test run 1001 has ended (Finished)`` when the plan knows the run has ended (apply
    sends it no cancel), ``... no longer exists`` when it is gone; None otherwise."""
    result = change.known_result
    if change.observed is not None and change.observed.gone:
        return f"{_run_id(run)} no longer exists"
    if result is not None and result.ended:
        return f"{_run_id(run)} has ended ({result.status})"
    return None


def _ended_cancel_note(change: Change) -> str | None:
    """``test run 1001 has ended (Finished): nothing to cancel, it leaves the state`` for the
    cancel of a run the plan knows has ended (apply sends nothing for it); None otherwise.
    Every format carries it: a reviewer of any of them learns that no request is sent."""
    if change.action is not Action.CANCEL or change.before is None:
        return None
    ended = _ended(change, change.before)
    return None if ended is None else f"{ended}: nothing to cancel, it leaves the state"


def _unknown_note(run: TrackedRun) -> str:
    why = run.note or "no answer came back"
    return f"trigger sent at {run.triggered_at}: {why}"


def _run_id(run: TrackedRun) -> str:
    if run.test_run_id is None:
        return "the tracked run"
    return f"test run {run.test_run_id}"


def _tracked(change: Change) -> TrackedRun:
    # The planner gives every UNKNOWN and REPLACE change the tracked run it comes from.
    if change.before is None:
        raise ValueError(f"{change.action.value} change of {change.key!r} has no tracked run")
    return change.before


# --- text --------------------------------------------------------------------------------------


class _Painter:
    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, code: str) -> str:
        return f"{code}{text}{_RESET}" if self.color else text


def render_text(plan: Plan, *, color: bool, state_args: str = "", paths_args: str = "") -> str:
    """Terraform-like human output; ANSI colour only when ``color`` is True.

    ``state_args`` and ``paths_args`` are shell-quoted arguments (e.g. ``--state alt.json`` and
    ``specs/``) that the suggested ``reconciler`` commands carry, so copied as written they act
    on the same state and specs as this plan; empty for the defaults.
    """
    paint = _Painter(color)
    lines: list[str] = []
    targets = plan.options.targets
    if targets:
        lines += [
            paint("Note: only the targeted keys were planned (--target): ", _BOLD)
            + ", ".join(targets),
            "",
        ]
    unreadable = plan.unreadable
    if unreadable:
        lines += [paint(_unreadable_line(unreadable), _BOLD), ""]
    shown = [c for c in plan.changes if c.action in _SHOWN or _only_moved(c)]
    if shown:
        lines += ["reconciler will perform the following actions:", ""]
        legend = "  ".join(
            f"{paint(_MARKERS[a], _COLORS[a])} {a.value}" for a in (*_SHOWN, Action.UNKNOWN)
        )
        lines += [f"  markers: {legend}", ""]
        for change in shown:
            lines += _text_change(change, paint)
            lines.append("")
    unknown = plan.by_action(Action.UNKNOWN)
    if unknown:
        lines += _text_unknown(unknown, paint, state_args, paths_args)
    lines.append(paint(summary_line(plan), _BOLD))
    if unknown:
        lines.append(paint(_unknown_line(len(unknown)), _COLORS[Action.UNKNOWN]))
    return "\n".join(lines) + "\n"


def _only_moved(change: Change) -> bool:
    return change.action is Action.NOOP and change.moved_from is not None


def _text_move(change: Change, paint: _Painter) -> list[str]:
    return [
        paint(f"  # {change.key} has moved from {change.moved_from}", _BOLD),
        paint("  # only its key in state changes: the run is not touched", _DIM),
        f"  {paint('→', _BOLD)} {paint(change.key, _BOLD)}",
    ]


def _text_change(change: Change, paint: _Painter) -> list[str]:
    if _only_moved(change):
        return _text_move(change, paint)
    code = _COLORS[change.action]
    marker = paint(f"{_MARKERS[change.action]:>3}", code)
    header = {
        Action.TRIGGER: "will be triggered",
        Action.REPLACE: "must be replaced",
        Action.CANCEL: "will be cancelled",
    }[change.action]
    lines = [paint(f"  # {change.key} {header} ({change.reason})", _BOLD)]
    if change.moved_from is not None:
        lines.append(paint(f"  # moved from {change.moved_from} first (state only)", _DIM))
    if change.source:
        lines.append(paint(f"  # declared at {change.source}", _DIM))
    if change.action is Action.REPLACE or (
        change.action is Action.TRIGGER and change.before is not None
    ):
        lines.append(paint(f"  # {_old_run_note(change)}", _DIM))
    elif (note := _ended_cancel_note(change)) is not None:
        lines.append(paint(f"  # {note}", _DIM))
    lines.append(f"{marker} {paint(change.key, _BOLD)}")
    if change.action is Action.TRIGGER and change.after is not None:
        lines += _text_fields(change.after.wire(), "+", code, paint)
    elif change.action is Action.CANCEL and change.before is not None:
        fields = {"testRunId": change.before.test_run_id, **change.before.attributes.wire()}
        lines += _text_fields(fields, "-", code, paint)
    else:
        for field in change.changed_fields:
            forces = paint("# forces replacement", _RED)
            lines.append(f"      {paint('~', code)} {field.detail}  {forces}")
        hidden = len(_field_names(change)) - len(change.changed_fields)
        lines.append(paint(f"        # ({hidden} unchanged fields hidden)", _DIM))
    return lines


def _field_names(change: Change) -> set[str]:
    # Only the fields a run has: an unset revision is not counted as a hidden field.
    names: set[str] = set()
    if change.before is not None:
        names.update(change.before.attributes.wire())
    if change.after is not None:
        names.update(change.after.wire())
    return names


def _text_fields(data: dict[str, Any], sign: str, code: str, paint: _Painter) -> list[str]:
    width = max(len(name) for name in data)
    return [
        f"      {paint(sign, code)} {name:<{width}} = {_value(value, name)}"
        for name, value in data.items()
    ]


def _text_unknown(
    unknown: list[Change], paint: _Painter, state_args: str, paths_args: str
) -> list[str]:
    code = _COLORS[Action.UNKNOWN]
    count = len(unknown)
    noun = "key needs" if count == 1 else "keys need"
    lines = [
        paint(f"! Unknown outcomes: {count} {noun} your decision", code),
        "  A trigger was sent for these keys and no answer came back: a test run may or may",
        "  not exist (and may be spending probe credits). Nothing is triggered again for them",
        "  until you resolve each one:",
        "",
    ]
    for change in unknown:
        where = f"  ({change.source})" if change.source else "  (no longer in the specs)"
        lines.append(f"{paint('  !', code)} {paint(change.key, _BOLD)}{paint(where, _DIM)}")
        lines.append(f"      {_unknown_note(_tracked(change))}")
        steps = _next_steps(change, state_args, paths_args)
        width = max(len(situation) for situation, _ in steps) + 1
        lines += [f"      {situation + ':':<{width}} {command}" for situation, command in steps]
        lines.append("")
    return lines


# --- JSON --------------------------------------------------------------------------------------


def plan_document(plan: Plan) -> dict[str, Any]:
    """The JSON plan as a dict (``reconciler/schemas/plan.schema.json`` describes it)."""
    if not plan.specs_checksum:
        # make_plan(checksum=False) makes plans for the terminal only: a bug if one gets here.
        raise ValueError("a plan made without the specs' checksum cannot be saved or shown as JSON")
    counts = plan.counts()
    return {
        "format_version": JSON_FORMAT_VERSION,
        "reconciler_version": __version__,
        "state": {
            "lineage": plan.lineage,
            "serial": plan.serial,
            **({"tracked": plan.tracked_checksum} if plan.tracked_checksum else {}),
        },
        "specs_checksum": plan.specs_checksum,
        "options": plan.options.document(),
        "runs": [_json_change(change) for change in plan.changes],
        "summary": {action.value: counts[action] for action in Action},
    }


def _json_change(change: Change) -> dict[str, Any]:
    document = {
        "key": change.key,
        "action": change.action.value,
        "actions": change.action.json_actions,
        "reason": change.reason,
        "source": change.source,
        "before": _json_tracked(change.before),
        "after": change.after.wire() if change.after is not None else None,
        "changed_fields": [
            {"field": f.field, "before": f.before, "after": f.after, "detail": f.detail}
            for f in change.changed_fields
        ],
    }
    # Present only for moves, like Terraform's previous_address: plans without moves keep
    # their exact shape.
    if change.moved_from is not None:
        document["moved_from"] = change.moved_from
    # Present only when a refresh read the run: plans made without one keep their shape.
    if change.observed is not None:
        document["refreshed"] = _json_observed(change.observed)
    # Present only for the cancel of a run known to have ended, as in the text plan.
    note = _ended_cancel_note(change)
    if note is not None:
        document["nothing_to_cancel"] = note
    return document


def _json_observed(observed: Observed) -> dict[str, Any]:
    result = observed.result
    return {
        "status": result.status if result is not None else None,
        "ended": result.ended if result is not None else observed.gone,
        "gone": observed.gone,
        "error": observed.error,
        "result": result.model_dump(mode="json") if result is not None else None,
    }


def _json_tracked(run: TrackedRun | None) -> dict[str, Any] | None:
    if run is None:
        return None
    document: dict[str, Any] = {
        "testRunId": run.test_run_id,
        "status": run.status,
        "attributes": run.attributes.wire(),
        "triggeredAt": run.triggered_at,
        "note": run.note,
    }
    # Only once a final result is recorded: other runs keep the shape they always had.
    if run.result is not None:
        document["result"] = run.result.model_dump(mode="json")
    return document


def render_json(plan: Plan) -> str:
    """The JSON plan: stable key order, two-space indent, trailing newline."""
    import json  # here: only the JSON plan needs it

    return json.dumps(plan_document(plan), indent=2, ensure_ascii=False) + "\n"


# --- markdown ----------------------------------------------------------------------------------

_EMOJI = {
    Action.TRIGGER: "🟢",
    Action.REPLACE: "🟡",
    Action.CANCEL: "🔴",
    Action.UNKNOWN: "⚠️",
}


def render_markdown(
    plan: Plan,
    *,
    limit: int = MARKDOWN_LIMIT,
    state_args: str = "",
    paths_args: str = "",
    platform: str | None = None,
) -> str:
    """A pull-request comment: summary, a table, per-run ``diff`` details, under ``limit``.

    ``limit`` counts UTF-16 code units, as GitHub does (an emoji is two). When everything does
    not fit, table rows are kept before details, and a note says how much was cut and how to see
    the whole plan. ``state_args`` and ``paths_args`` are as for ``render_text``. With
    ``platform`` (the web UI's base URL), a run that is replaced or cancelled links to the run
    it ends, so a reviewer can look at what it found before approving.
    """
    head = ["### reconciler plan", "", f"**{summary_line(plan)}**", ""]
    targets = plan.options.targets
    if targets:
        keys = ", ".join(md_code(key) for key in targets)
        head += [f"_Only the targeted keys were planned (`--target`): {keys}._", ""]
    unreadable = plan.unreadable
    if unreadable:
        head += [f"_{_unreadable_line(unreadable, md_code)}._", ""]
    unknown = plan.by_action(Action.UNKNOWN)
    if unknown:
        head += _md_unknown(unknown, state_args, paths_args)
    listed = [c for c in plan.changes if c.action is not Action.NOOP or c.moved_from]
    if not listed:
        return _fit("\n".join(head), limit)
    rows = ["| | action | key | reason |", "| --- | --- | --- | --- |"]
    rows += [_md_row(change, platform) for change in listed]
    details = [_md_details(change) for change in listed if change.action in _SHOWN]
    cut = _CutNote(len(listed), len(details), _command("reconciler plan", paths_args, state_args))

    text = "\n".join([*head, *rows]) + "\n"
    # Room for the cut note, whatever numbers end up in it.
    budget = limit - utf16_units(cut.text(len(listed), len(details)))
    if utf16_units(text) > budget:
        return _md_cut_rows(head, rows, cut, limit)
    fitted, kept = fit_blocks(text, details, budget)
    if kept < len(details):
        fitted += "\n" + cut.text(len(listed), kept)
    return _fit(fitted, limit)


def _md_cut_rows(head: list[str], rows: list[str], cut: _CutNote, limit: int) -> str:
    budget = limit - utf16_units(cut.text(cut.total_rows, 0))
    parts = ["\n".join(head) + "\n"]
    used = utf16_units(parts[0])
    for row in rows:
        size = utf16_units(row) + 1
        if used + size > budget:
            break
        parts.append(row + "\n")
        used += size
    shown = max(len(parts) - 1 - 2, 0)  # the two header lines of the table are not runs
    return _fit("".join(parts) + "\n" + cut.text(shown, 0), limit)


class _CutNote:
    """The note that ends a markdown plan cut to fit, pointing to the command for all of it."""

    def __init__(self, total_rows: int, total_details: int, whole_plan: str) -> None:
        self.total_rows = total_rows
        self.total_details = total_details
        self.whole_plan = whole_plan

    def text(self, rows: int, details: int) -> str:
        return (
            f"> **Output cut to fit a comment:** {rows} of {self.total_rows} runs listed, "
            f"{details} of {self.total_details} diffs shown. "
            f"Run `{self.whole_plan}` (or `--format json`) for the whole plan.\n"
        )


def _fit(text: str, limit: int) -> str:
    # Last resort for absurdly small limits: never hand back more than was allowed. A surrogate
    # pair split by the cut is dropped whole (``ignore``), not left half.
    if utf16_units(text) <= limit:
        return text
    return text.encode("utf-16-le")[: 2 * limit].decode("utf-16-le", errors="ignore")


def _md_unknown(unknown: list[Change], state_args: str, paths_args: str) -> list[str]:
    lines = [
        "> [!WARNING]",
        f"> **{_unknown_line(len(unknown))}** A trigger was sent and no answer came back;",
        "> a test run may or may not exist. For each key:",
    ]
    for change in unknown:
        steps = "; ".join(
            f"{situation}: `{command}`"
            for situation, command in _next_steps(change, state_args, paths_args)
        )
        lines.append(f"> - {md_code(change.key)}: {steps}")
    return [*lines, ""]


def _md_row(change: Change, platform: str | None) -> str:
    if _only_moved(change):
        emoji, action = "🔀", "move"
    else:
        emoji, action = _EMOJI[change.action], change.action.value
    reason = md_text(change.reason)
    if change.moved_from is not None and not _only_moved(change):
        reason += f"; moved from {md_code(change.moved_from)}"
    note = _ended_cancel_note(change)
    if note is not None:
        reason += f"; {md_text(note)}"
    ending = change.before if change.action in (Action.REPLACE, Action.CANCEL) else None
    if platform is not None and ending is not None and ending.test_run_id is not None:
        attrs = ending.attributes
        url = run_url(platform, attrs.workspace_id, attrs.target_id, ending.test_run_id)
        reason += f"; [run {ending.test_run_id}]({url})"
    cells = [emoji, action, md_code(change.key), reason]
    return "| " + " | ".join(cells) + " |"


def _md_details(change: Change) -> str:
    where = f" ({md_html(change.source)})" if change.source else ""
    summary = f"<code>{md_html(change.key)}</code>: {change.action.value}{where}"
    body = "\n".join(_diff_lines(change))
    fence = "`" * max(3, longest_backtick_run(body) + 1)
    return f"<details><summary>{summary}</summary>\n\n{fence}diff\n{body}\n{fence}\n</details>\n"


def _diff_lines(change: Change) -> list[str]:
    # A re-trigger has a ``before`` (the unknown entry) but cancels nothing: all of it is new.
    old_run = change.before if change.action in (Action.REPLACE, Action.CANCEL) else None
    before = old_run.attributes.wire() if old_run is not None else {}
    after = change.after.wire() if change.after is not None else {}
    lines = []
    if old_run is not None and old_run.test_run_id is not None:
        lines.append(f"- testRunId: {old_run.test_run_id}")
    # Every field of either side: one the new run drops still shows as removed.
    for name in dict.fromkeys([*before, *after]):
        old, new = before.get(name), after.get(name)
        if name in before and (name not in after or old != new):
            lines.append(f"- {name}: {_value(old, name)}")
        if name in after and (name not in before or old != new):
            lines.append(f"+ {name}: {_value(new, name)}")
        if name in before and name in after and old == new:
            lines.append(f"  {name}: {_value(new, name)}")
    return lines
