"""One validated spec file → its runs: defaults, probe sets and matrices merged in.

Precedence for each field of a run: its matrix value, then the run's own value, then the
file's ``defaults`` (for ``workspaceId``: the file's top-level value, then the project
config's). A run's ``probeIds`` may name probe sets (the file's ``probeSets`` and the project
config's); each name stands for its ids. A run with a ``matrix`` becomes one run per
combination of the matrix values, keyed ``base[axis=value,...]`` with the axes sorted by name.

Every problem is collected as a ``SpecError``; the caller refuses the whole set if there is
any, so a half-merged result never leaves this module's caller.
"""

from __future__ import annotations

import enum
import itertools
import math
from collections.abc import Container, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from reconciler.errors import SpecError
from reconciler.records import RunAttributes, normalise_probe_ids
from reconciler.results.gate import Gate
from reconciler.spec.model import DesiredRun, MatrixLimit, ProbeSet
from reconciler.spec.schema import Defaults, Matrix, RunSpec, SpecFile, is_run_key
from reconciler.spec.yaml_loader import (
    BLANK_NULL_HINT,
    BLANK_NULL_MESSAGE,
    blank_null,
    key_lines,
    locate,
)
from reconciler.validation import field_path

if TYPE_CHECKING:
    from yaml.nodes import Node

T = TypeVar("T")
Loc = tuple[int | str, ...]

_NO_DEFAULTS = Defaults()
#: Resolved ``probeIds``: sorted ids, or None for the target's configured probes.
Probes = tuple[int, ...] | None


class _Unset(enum.Enum):
    """``probeIds`` not given at all (None already means "the target's probes")."""

    UNSET = enum.auto()


#: Matrix axes: (wire name, Python field name), sorted by wire name (the order keys use).
_AXES: tuple[tuple[str, str], ...] = tuple(
    sorted((info.alias or name, name) for name, info in Matrix.model_fields.items())
)
_PYTHON_NAMES = dict(_AXES)
_REQUIRED_HINTS = {
    "workspaceId": "add workspaceId: 1234 at the top of the file, or to this run",
    "targetId": "add targetId: 42 to this run, or to defaults:",
    "probeIds": "add probeIds: [101, 102] to this run, or to defaults:",
}


# A plain class rather than a dataclass: see spec/yaml_loader.py's _Builder.
class MergedFile:
    """The runs of one file, the line of each (expanded) run key, and the problems found."""

    __slots__ = ("errors", "key_lines", "runs")

    def __init__(self) -> None:
        self.runs: list[DesiredRun] = []
        self.key_lines: dict[str, int] = {}
        self.errors: list[SpecError] = []


def merge_file(
    display: str,
    root: Node | None,
    spec: SpecFile,
    shared_sets: Mapping[str, ProbeSet],
    workspace_id: int | None,
    *,
    flawed: Container[str] = (),
    gate: Gate | None = None,
    matrix_limit: MatrixLimit | None = None,
    literal_lines: Mapping[str, int] | None = None,
) -> MergedFile:
    """Merge ``spec`` (parsed from ``root``) into runs; ``shared_sets`` and ``workspace_id``
    come from the project config. ``flawed`` are the keys of runs that already have an error
    (from the YAML layer): their missing fields are not reported, since fixing that error
    (say, a merge key the YAML layer dropped) may well supply them. ``gate`` is the project
    config's, below the file's ``defaults.gate`` and each run's own. A matrix that would make
    more runs than ``matrix_limit`` is an error (default: ``MatrixLimit()``).
    ``literal_lines`` is ``key_lines(root, "testRuns")`` when the caller has it already."""
    limit = matrix_limit or MatrixLimit()
    if literal_lines is None:
        literal_lines = key_lines(root, "testRuns")
    merger = _Merger(
        display,
        root,
        spec,
        shared_sets,
        workspace_id,
        flawed=flawed,
        gate=gate,
        limit=limit,
        literal_lines=literal_lines,
    )
    return merger.merge()


class _Merger:
    def __init__(
        self,
        display: str,
        root: Node | None,
        spec: SpecFile,
        shared_sets: Mapping[str, ProbeSet],
        workspace_id: int | None,
        *,
        flawed: Container[str],
        gate: Gate | None = None,
        limit: MatrixLimit,
        literal_lines: Mapping[str, int],
    ) -> None:
        self.display = display
        self.flawed = flawed
        self.limit = limit
        self.root = root
        self.spec = spec
        self.result = MergedFile()
        self.literal_lines = literal_lines
        self.defaults = spec.defaults or _NO_DEFAULTS
        self.workspace_id = _first(spec.workspace_id, workspace_id)
        self.sets = self._probe_sets(shared_sets)
        self.default_probes = self._given_probes(self.defaults, ("defaults", "probeIds"))
        self.default_probes_given = _probes_set(self.defaults)
        # Most specific wins, field by field: run over defaults over the project config.
        base = gate or Gate()
        self.default_gate = (
            self.defaults.gate.to_gate().over(base) if self.defaults.gate is not None else base
        )

    # -- problems ---------------------------------------------------------------------------

    def error(self, message: str, loc: Loc, hint: str | None = None, *, key: bool = False) -> None:
        line = locate(self.root, loc, key=key)
        self.result.errors.append(
            SpecError(message, file=self.display, line=line, field=field_path(loc), hint=hint)
        )

    # -- probe sets -------------------------------------------------------------------------

    def _probe_sets(self, shared: Mapping[str, ProbeSet]) -> dict[str, ProbeSet]:
        sets = dict(shared)
        lines = key_lines(self.root, "probeSets")
        for name, ids in (self.spec.probe_sets or {}).items():
            if name in shared:
                self.error(
                    f"probe set {name!r} is already defined at {shared[name].source}",
                    ("probeSets", name),
                    "rename this one; a spec file cannot redefine a set of the project config",
                    key=True,
                )
                continue
            if ids is None and blank_null(self.root, ("probeSets", name)):
                self.error(BLANK_NULL_MESSAGE, ("probeSets", name), BLANK_NULL_HINT)
            source = f"{self.display}:{lines.get(name, 1)}"
            sets[name] = ProbeSet(name, None if ids is None else normalise_probe_ids(ids), source)
        return sets

    def _given_probes(self, model: RunSpec | Defaults, loc: Loc) -> Probes | _Unset:
        """``model``'s ``probeIds`` resolved; ``UNSET`` when it has none. ``probeIds: null``
        (the target's configured probes) must be the word ``null`` itself: a blank value or
        ``~`` reads like a half-finished edit, and a variable that happens to be empty must
        not quietly select every probe of the target."""
        if model.probe_ids is not None:
            return self._probes(model.probe_ids, loc)
        if "probe_ids" not in model.model_fields_set:
            return _Unset.UNSET
        if blank_null(self.root, loc):
            self.error(BLANK_NULL_MESSAGE, loc, BLANK_NULL_HINT)
        return None

    def _probes(self, refs: Sequence[int | str], loc: Loc) -> Probes:
        """Probe ids and set names → sorted ids; None for a set meaning the target's probes."""
        ids: list[int] = []
        for index, ref in enumerate(refs):
            if not isinstance(ref, str):
                ids.append(ref)
                continue
            found = self._set_ids(ref, (*loc, index))
            if found is not None:
                ids.extend(found)
            elif len(refs) == 1:
                return None
            else:
                self.error(
                    f"probe set {ref!r} stands for the target's configured probes "
                    f"({self.sets[ref].source}): it cannot be combined with other ids or sets",
                    (*loc, index),
                    f"write probeIds: [{ref}] alone, or list the ids",
                )
        return normalise_probe_ids(ids)

    def _set_ids(self, name: str, loc: Loc) -> tuple[int, ...] | None:
        found = self.sets.get(name)
        if found is not None:
            return found.ids
        known = sorted(self.sets)
        if not known:
            hint = "define it under probeSets: in this file or in reconciler.yaml"
        else:
            import difflib  # only a misspelt name needs it

            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = (f"did you mean {close[0]}? " if close else "") + (
                f"the probe sets are: {', '.join(known)}"
            )
        self.error(f"unknown probe set {name!r}", loc, hint)
        return ()

    # -- runs -------------------------------------------------------------------------------

    def merge(self) -> MergedFile:
        for key, run in self.spec.test_runs.items():
            line = self.literal_lines.get(key, 1)
            if not self._complete(key, run, line):
                continue
            given = run.probe_ids
            probes: Probes | _Unset
            if given is not None and str not in map(type, given):
                # Ids only, nearly every run: no set to resolve and nothing to report, so no
                # trip through _given_probes (about 5 M instructions for 1,000 runs).
                probes = normalise_probe_ids(cast("list[int]", given))
            else:
                probes = self._given_probes(run, ("testRuns", key, "probeIds"))
            if probes is _Unset.UNSET:
                probes = self.default_probes
            if run.matrix is None:
                assert probes is not _Unset.UNSET  # _complete: given by the run or defaults
                fields = self._fields(run)
                fields["probe_ids"] = probes
                self._add(key, run, line, key=key, fields=fields, name=run.name or key)
            else:
                self._expand(key, run, run.matrix, line, probes)
        return self.result

    def _complete(self, key: str, run: RunSpec, line: int) -> bool:
        """Report the required fields no source gives this run; True when none is missing."""
        if (
            (run.workspace_id is not None or self.workspace_id is not None)
            and (run.target_id is not None or self.defaults.target_id is not None)
            and (self.default_probes_given or _probes_set(run))
        ):
            return True  # nearly every run: skip building the list of what is missing
        axes = run.matrix
        given = {
            "workspaceId": _first(run.workspace_id, self.workspace_id),
            "targetId": _first(run.target_id, self.defaults.target_id),
            # Present, null included (the target's configured probes).
            "probeIds": _probes_set(run) or self.default_probes_given or None,
        }
        missing = [
            name
            for name, value in given.items()
            if value is None and (axes is None or getattr(axes, _PYTHON_NAMES[name]) is None)
        ]
        for name in missing if key not in self.flawed else ():
            self.result.errors.append(
                SpecError(
                    "required field is missing",
                    file=self.display,
                    line=line,
                    field=f"testRuns.{key}.{name}",
                    hint=_REQUIRED_HINTS[name],
                )
            )
        return not missing

    def _fields(self, run: RunSpec) -> dict[str, Any]:
        """The run's attributes other than probes and name, each from the run or defaults
        (``RunAttributes`` keywords); a matrix combination overrides some of them."""
        defaults = self.defaults
        # ``_first`` written out: this runs for every run of every file.
        return {
            "workspace_id": (
                run.workspace_id if run.workspace_id is not None else self.workspace_id
            ),
            "target_id": run.target_id if run.target_id is not None else defaults.target_id,
            "run_ai_analysis": bool(
                run.run_ai_analysis if run.run_ai_analysis is not None else defaults.run_ai_analysis
            ),
            "notify_when_finished": bool(
                run.notify_when_finished
                if run.notify_when_finished is not None
                else defaults.notify_when_finished
            ),
            "revision": run.revision if run.revision is not None else defaults.revision,
        }

    def _add(
        self, base: str, run: RunSpec, line: int, *, key: str, fields: dict[str, Any], name: str
    ) -> None:
        """Add run ``key`` (``base``, or a run of its matrix) with ``fields`` (``_fields``,
        ``probe_ids`` included) and ``name``."""
        # _complete made sure every required field is given, or is an axis of the matrix.
        attributes = RunAttributes(name=name, **fields)
        # Keys written in one file are unique (the YAML layer checks), but a matrix can make
        # a key that is also written out, or that another matrix makes.
        first = self.result.key_lines.get(key)
        if first is not None:
            made = f" (made by the matrix of {base!r})" if key != base else ""
            self.error(
                f"run key {key!r}{made} is already declared at {self.display}:{first}",
                ("testRuns", base),
                "run keys are unique: rename the run or change the matrix values",
                key=True,
            )
            return
        self.result.key_lines[key] = line
        defaults = self.defaults
        self.result.runs.append(
            DesiredRun(
                key,
                attributes,
                self.display,
                line,
                bool(run.protect if run.protect is not None else defaults.protect),
                name_defaulted=run.name is None,
                gate=run.gate.to_gate().over(self.default_gate) if run.gate else self.default_gate,
                rerun_after=(
                    run.rerun_after if run.rerun_after is not None else defaults.rerun_after
                ),
            )
        )

    # -- matrices ---------------------------------------------------------------------------

    def _expand(
        self, base: str, run: RunSpec, matrix: Matrix, line: int, probes: Probes | _Unset
    ) -> None:
        loc: Loc = ("testRuns", base, "matrix")
        axes = [
            (wire, name, values)
            for wire, name in _AXES
            if (values := getattr(matrix, name)) is not None
        ]
        if not axes:
            self.error(
                "a matrix needs at least one axis",
                loc,
                "list values for a field, e.g. matrix: {targetId: [42, 43]}",
                key=True,
            )
            return
        if not self._within_limit(base, axes, loc):
            return
        choices: list[list[tuple[str, str, Any, str]]] = []
        ok = True
        for wire, name, values in axes:
            options = self._axis(run, wire, name, values, (*loc, wire))
            ok = ok and options is not None
            choices.append(options or [])
        template = self._template(run.name, [wire for wire, _, _ in axes], ("testRuns", base))
        if not ok or template is None:
            return
        base_fields = self._fields(run)
        if probes is not _Unset.UNSET:
            base_fields["probe_ids"] = probes  # else an axis of the matrix
        for picked in itertools.product(*choices):
            suffix = ",".join(f"{wire}={text}" for wire, _, _, text in picked)
            key = f"{base}[{suffix}]"
            if not is_run_key(key):
                self.error(
                    f"the matrix makes the run key {key!r}, which is not a valid key "
                    "(letters, digits and -_.:/[]=, only, at most 200 characters)",
                    loc,
                    "use revision values made of letters, digits and -_.:/ only, "
                    "or a shorter base key",
                    key=True,
                )
                return
            fields = {**base_fields, **{name: value for _, name, value, _ in picked}}
            texts = {wire: text for wire, _, _, text in picked}
            name = _render(template, texts) if run.name else key
            self._add(base, run, line, key=key, fields=fields, name=name)

    def _within_limit(self, base: str, axes: list[tuple[str, str, list[Any]]], loc: Loc) -> bool:
        """Report a matrix bigger than the limit. The size is the product of the axis lengths,
        known before anything is expanded, so a huge matrix costs no memory."""
        size = math.prod(len(values) for _, _, values in axes)
        if size <= self.limit.runs:
            return True
        shape = " x ".join(f"{len(values)} {wire}" for wire, _, values in axes)
        where = (
            f"maxMatrixRuns: {self.limit.runs:,} at {self.limit.source}"
            if self.limit.source is not None
            else f"maxMatrixRuns, by default {self.limit.runs:,}"
        )
        self.error(
            f"the matrix of {base!r} would make {size:,} runs ({shape}), more than the limit "
            f"({where}); nothing was expanded",
            loc,
            "split the run into several smaller matrices, or raise maxMatrixRuns in "
            "reconciler.yaml if you really mean to trigger that many runs",
            key=True,
        )
        return False

    def _axis(
        self, run: RunSpec, wire: str, name: str, values: list[Any], loc: Loc
    ) -> list[tuple[str, str, Any, str]] | None:
        """(wire name, field, value, text) per value of one axis; None after an error."""
        if name in run.model_fields_set:  # probeIds: null is set too
            self.error(
                f"{wire} is set both on the run and in its matrix",
                loc,
                f"remove {wire} from the run, or from the matrix",
                key=True,
            )
            return None
        options = []
        seen: set[str] = set()
        for index, given in enumerate(values):
            text = _text(given)
            if text in seen:
                self.error(f"the value {text} appears twice in this axis", (*loc, index))
                return None
            seen.add(text)
            value = given
            if wire == "probeIds":
                # A set name stands alone; a list may mix ids and set names.
                listed = isinstance(given, list)
                value = self._probes(given if listed else [given], (*loc, index) if listed else loc)
            options.append((wire, name, value, text))
        return options

    def _template(
        self, name: str | None, axes: list[str], loc: Loc
    ) -> list[tuple[str, str | None]] | None:
        """A matrix run's ``name`` as (literal, placeholder) pairs; None after an error."""
        # Imported here: only a matrix needs it, and the module costs every plan about 2 M
        # instructions (its ``Template`` compiles a pattern when the class is made).
        import string

        if name is None:
            return []
        where = (*loc, "name")
        hint = f"the placeholders are the matrix axes: {', '.join('{' + a + '}' for a in axes)}"
        try:
            parts = list(string.Formatter().parse(name))
        except ValueError:
            self.error(
                "the name has an unmatched { or }",
                where,
                "write {{ and }} for literal braces; " + hint,
            )
            return None
        template: list[tuple[str, str | None]] = []
        for literal, placeholder, spec, conversion in parts:
            if placeholder is not None and (placeholder not in axes or spec or conversion):
                # ``${VAR}`` left in by an unset variable, already reported by the YAML layer:
                # "unknown placeholder {VAR}" would only send the user after a second problem.
                if not (literal.endswith("$") and loc[1] in self.flawed):
                    self.error(f"unknown placeholder {{{placeholder}}} in the name", where, hint)
                return None
            template.append((literal, placeholder))
        return template


def _render(template: list[tuple[str, str | None]], texts: Mapping[str, str]) -> str:
    return "".join(literal + (texts[p] if p is not None else "") for literal, p in template)


def _text(value: Any) -> str:
    """How a matrix value reads in a run key and a name."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "_".join(_text(v) for v in value)
    return str(value)


def _probes_set(model: RunSpec | Defaults) -> bool:
    return "probe_ids" in model.model_fields_set


def _first(value: T | None, fallback: T) -> T:
    return value if value is not None else fallback
