"""Spec files and directories → ``DesiredSet``, with every problem reported in one pass.

Steps: find the files (``find_spec_files``), parse each one (``yaml_loader``, which also
interpolates ``${VAR}``), validate it against the schema (``schema``), merge ``defaults``,
probe sets, matrices and the ``workspaceId`` into each run (``merge``), check that no run key
is declared twice across files, and check the ``moved:`` entries against the keys. Problems
are collected as ``SpecError`` s and raised together as one ``SpecValidationError``: a user
fixes all of them in one round trip, and nothing downstream (plan, apply) ever sees a
half-valid set.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from pydantic import ValidationError

from reconciler.collector import leave_to_exit
from reconciler.errors import SpecError, SpecValidationError
from reconciler.spec.merge import merge_file
from reconciler.spec.model import DesiredRun, DesiredSet, MatrixLimit, Move, ProbeSet
from reconciler.spec.schema import SpecFile
from reconciler.spec.values import describe
from reconciler.spec.yaml_loader import ParsedYaml, key_lines, locate, parse_yaml

if TYPE_CHECKING:
    from reconciler.config import ProjectConfig
    from reconciler.results.gate import Gate

SPEC_SUFFIXES = (".yaml", ".yml")


# A NamedTuple: immutable, and cheaper to define than a frozen dataclass (docs/ARCHITECTURE.md).
class SpecPath(NamedTuple):
    """A spec file to read: where it is, and how messages name it."""

    path: Path
    display: str


# A plain class rather than a dataclass: see spec/yaml_loader.py's _Builder.
class FileResult:
    """What one spec file contributed: its runs, the line of each run key, its problems."""

    __slots__ = ("errors", "key_lines", "moves", "parsed", "runs")

    def __init__(self, errors: list[SpecError], parsed: ParsedYaml | None = None) -> None:
        self.runs: list[DesiredRun] = []
        self.key_lines: dict[str, int] = {}
        self.errors = errors
        self.moves: list[Move] = []
        #: The file's node tree and data, for the caller to free or to leave to the exit.
        self.parsed = parsed


def load_specs(
    paths: Sequence[str | Path],
    *,
    env: Mapping[str, str] | None = None,
    config: ProjectConfig | None = None,
    paths_from_config: bool = False,
) -> DesiredSet:
    """Read every spec file under ``paths`` into one ``DesiredSet``.

    ``env`` is where ``${VAR}`` is looked up (default: the process environment); ``config``
    supplies probe sets and a default ``workspaceId``; ``paths_from_config`` says the paths
    are the config's ``specs:``, so a missing one is reported against ``reconciler.yaml``.
    Raises ``SpecValidationError`` listing every problem of every file. No spec file at all is
    not an error here: the result is empty and the planner's safety rail decides.
    """
    with _cyclic_gc_paused():
        env = os.environ if env is None else env
        return _load_specs(paths, env, config if paths_from_config else None, config)


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause the cycle collector while large, acyclic node trees are alive.

    A 10,000-run file composes into ~100,000 live objects; each gen-2 collection walks all of
    them, which made loading it 6x slower (2.5 s instead of 0.4 s). Reference counting still
    frees everything as usual; the rare cycle (a self-referencing YAML alias) waits until the
    collector is back on.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


#: How many runs' node trees a CLI process leaves to its end rather than freeing them file by
#: file (``collector.leave_to_exit``): freeing is about 10 M instructions per 1,000 runs, and
#: keeping them about 5 MB, so the memory this may hold is bounded (some 10 MB).
_TREES_LEFT_TO_EXIT = 2_000


def _load_specs(
    paths: Sequence[str | Path],
    env: Mapping[str, str],
    from_config: ProjectConfig | None,
    config: ProjectConfig | None,
) -> DesiredSet:
    sets = config.probe_set_defs() if config is not None else {}
    workspace_id = config.workspace_id if config is not None else None
    gate = config.default_gate() if config is not None else None
    limit = config.matrix_limit() if config is not None else MatrixLimit()
    errors: list[SpecError] = []
    moves: list[Move] = []
    # The config's own ``specs`` (not paths given on the command line): a missing one is an
    # error of the config file, at its line.
    spec_paths = find_spec_files(paths, errors, from_config)
    runs: dict[str, DesiredRun] = {}
    declared: dict[str, str] = {}  # run key -> "file:line" of its first declaration
    files: list[str] = []
    left = 0  # runs whose files' trees were left to the process's end (_TREES_LEFT_TO_EXIT)
    for spec_path in spec_paths:
        try:
            content = spec_path.path.read_bytes()
        except OSError as exc:
            errors.append(_unreadable(spec_path.display, exc))
            continue
        files.append(spec_path.display)
        result = load_file(
            spec_path.display, content, env, sets, workspace_id, gate=gate, matrix_limit=limit
        )
        if left + len(result.runs) <= _TREES_LEFT_TO_EXIT:
            left += len(result.runs)
            leave_to_exit(result.parsed)
        errors.extend(result.errors)
        moves.extend(result.moves)
        errors.extend(_cross_file_duplicates(spec_path.display, result.key_lines, declared))
        for run in result.runs:
            runs.setdefault(run.key, _with_config(run, config))
    if not errors:
        errors.extend(check_moves(moves, runs))
    if errors:
        raise _validation_error(errors, from_config)
    return DesiredSet(
        runs=runs,
        files=tuple(files),
        moves=tuple(moves),
    )


def _validation_error(errors: list[SpecError], config: ProjectConfig | None) -> SpecValidationError:
    """All of ``errors``, headed by where they are: spec files, the config, or both."""
    in_config = config is not None and any(e.file == config.display for e in errors)
    if config is None or not in_config:
        return SpecValidationError(errors)
    in_specs = any(e.file != config.display for e in errors)
    from reconciler.spec.messages import ConfigValidationError

    return ConfigValidationError(errors, config.display, with_specs=in_specs)


def _with_config(run: DesiredRun, config: ProjectConfig | None) -> DesiredRun:
    """``run`` with what reconciler.yaml sets for runs that set nothing (``rerunAfter``)."""
    if config is None or config.rerun_after is None or run.rerun_after is not None:
        return run
    return run._replace(rerun_after=config.rerun_after)


def check_moves(moves: Sequence[Move], runs: Mapping[str, DesiredRun]) -> list[SpecError]:
    """The rules a ``moved:`` list must follow whatever the state holds (docs/SPEC_FORMAT.md)."""
    errors = []
    sources = {move.source: move for move in moves}
    targets: dict[str, Move] = {}
    seen: dict[str, Move] = {}

    def problem(move: Move, message: str, hint: str) -> None:
        errors.append(SpecError(message, file=move.file, line=move.line, field="moved", hint=hint))

    for move in moves:
        if move.source in seen:
            problem(
                move,
                f"{move.source!r} is already moved at {seen[move.source].where}",
                "a key moves once: remove one of the entries",
            )
        elif move.target in targets:
            problem(
                move,
                f"{move.target!r} is already the target of the move at "
                f"{targets[move.target].where}",
                "two runs cannot move to one key: remove one of the entries",
            )
        elif move.source == move.target:
            problem(move, "a move from a key to itself", "remove the entry")
        elif move.source in runs:
            problem(
                move,
                f"{move.source!r} is still declared at {runs[move.source].source}",
                "a move renames a run: remove the old key from testRuns, or remove the move",
            )
        elif move.target in sources:
            # Checked before "not a run key": the target of a chain is the next move's source.
            newest = sources[move.target].target
            problem(
                move,
                f"{move.target!r} is moved on again at {sources[move.target].where}",
                "chains of moves are not followed: replace both entries by one move "
                f"from {move.source!r} to {newest!r}",
            )
        elif move.target not in runs:
            problem(
                move,
                f"the target {move.target!r} is not a run key of the specs",
                "declare the run under its new key, or fix the spelling of to:",
            )
        seen.setdefault(move.source, move)
        targets.setdefault(move.target, move)
    return errors


# --- finding files ---------------------------------------------------------------------------


def find_spec_files(
    paths: Sequence[str | Path], errors: list[SpecError], config: ProjectConfig | None = None
) -> list[SpecPath]:
    """The spec files named by ``paths``, in a deterministic order, each once.

    A file is read whatever its name; a directory contributes its ``*.yaml``/``*.yml`` files,
    recursively, sorted by path, skipping hidden files and directories (``.git``, editor
    droppings). Paths that do not exist are reported in ``errors``: at their line in
    ``config`` when they are its ``specs``.
    """
    found: list[SpecPath] = []
    seen: set[Path] = set()
    for given in paths:
        path = Path(given)
        if path.is_dir():
            candidates = _walk(path, errors)
        elif path.is_file():
            candidates = [path]
        else:
            in_config = config.missing_spec_path(str(given)) if config is not None else None
            if in_config is not None:
                errors.append(in_config)
                continue
            errors.append(
                SpecError(
                    "no such file or directory",
                    file=str(given),
                    hint="pass spec files or directories of them, e.g. reconciler validate specs/",
                )
            )
            continue
        for candidate in candidates:
            real = candidate.resolve()
            if real not in seen:
                seen.add(real)
                found.append(SpecPath(candidate, display_path(candidate)))
    return found


def _walk(root: Path, errors: list[SpecError]) -> list[Path]:
    def report(exc: OSError) -> None:
        errors.append(_unreadable(display_path(Path(exc.filename or root)), exc))

    files: list[Path] = []
    for directory, dirs, names in os.walk(root, onerror=report):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        files.extend(
            Path(directory, name)
            for name in names
            if name.endswith(SPEC_SUFFIXES) and not name.startswith(".")
        )
    return sorted(files, key=lambda p: p.relative_to(root).parts)


def display_path(path: Path) -> str:
    """How messages name ``path``: relative to the working directory when under it."""
    absolute = Path(os.path.normpath(path.absolute()))
    try:
        return absolute.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path.as_posix()


def _unreadable(display: str, exc: OSError) -> SpecError:
    return SpecError(
        f"cannot be read: {exc.strerror or exc}", file=display, hint="check its permissions"
    )


# --- one file --------------------------------------------------------------------------------


def load_file(
    display: str,
    content: bytes,
    env: Mapping[str, str] | None = None,
    shared_sets: Mapping[str, ProbeSet] | None = None,
    workspace_id: int | None = None,
    *,
    gate: Gate | None = None,
    matrix_limit: MatrixLimit | None = None,
) -> FileResult:
    """Parse, validate and merge one spec file. Never raises for bad input.

    ``env`` interpolates ``${VAR}`` (None: no interpolation); ``shared_sets``,
    ``workspace_id``, ``gate`` and ``matrix_limit`` come from the project config.
    """
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = content[: exc.start].count(b"\n") + 1
        error = SpecError(
            "is not UTF-8 text", file=display, line=line, hint="save the file as UTF-8"
        )
        return FileResult(errors=[error])
    parsed = parse_yaml(text, display, env)
    result = FileResult(errors=list(parsed.errors), parsed=parsed)
    if parsed.root is None or not isinstance(parsed.data, dict):
        problem = _top_level_problem(parsed, display)
        result.errors.extend([problem] if problem is not None else [])
        return result
    result.key_lines = key_lines(parsed.root, "testRuns")
    try:
        spec = SpecFile.model_validate(parsed.data)
    except ValidationError as exc:
        # Imported here: only a file with errors needs pydantic's errors turned into ours.
        from reconciler.spec.messages import validation_errors

        result.errors.extend(validation_errors(exc, parsed, display))
    else:
        _merge_into(
            result,
            spec,
            parsed,
            display,
            shared_sets=shared_sets or {},
            workspace_id=workspace_id,
            gate=gate,
            matrix_limit=matrix_limit or MatrixLimit(),
        )
    result.errors.sort(key=lambda e: e.line or 0)
    return result


def _top_level_problem(parsed: ParsedYaml, display: str) -> SpecError | None:
    """An empty file, or one whose top level is not a mapping (None when YAML already said)."""
    if parsed.root is None:
        if parsed.errors:
            return None
        return SpecError(
            "the file is empty",
            file=display,
            hint="add workspaceId: and testRuns: (see docs/SPEC_FORMAT.md), or delete the file",
        )
    return SpecError(
        f"expected a mapping with workspaceId, defaults and testRuns at the top level, "
        f"got {describe(parsed.data)}",
        file=display,
        line=1,
        hint="start the file with workspaceId: 1234 and testRuns:",
    )


def _merge_into(
    result: FileResult,
    spec: SpecFile,
    parsed: ParsedYaml,
    display: str,
    *,
    shared_sets: Mapping[str, ProbeSet],
    workspace_id: int | None,
    gate: Gate | None,
    matrix_limit: MatrixLimit,
) -> None:
    """A valid file's runs (defaults, probe sets, matrices merged) and moves into ``result``."""
    assert parsed.root is not None  # a file that parsed to a mapping has a root node
    flawed = _runs_with_errors(spec.test_runs, parsed.errors)
    merged = merge_file(
        display,
        parsed.root,
        spec,
        shared_sets,
        workspace_id,
        flawed=flawed,
        gate=gate,
        matrix_limit=matrix_limit,
        literal_lines=result.key_lines,  # key_lines of the file, from load_file
    )
    result.runs, result.key_lines = merged.runs, merged.key_lines
    result.errors.extend(merged.errors)
    result.moves = [
        Move(m.source, m.target, display, locate(parsed.root, ("moved", i, "from"), key=True) or 1)
        for i, m in enumerate(spec.moved or ())
    ]


def _runs_with_errors(keys: Iterable[str], errors: Sequence[SpecError]) -> set[str]:
    """The run keys some error's field lies under (a dotted key may claim a few too many)."""
    fields = [e.field for e in errors if e.field is not None and e.field.startswith("testRuns.")]
    if not fields:
        return set()
    return {
        key
        for key in keys
        if any(
            f == f"testRuns.{key}" or f.startswith((f"testRuns.{key}.", f"testRuns.{key}["))
            for f in fields
        )
    }


def _cross_file_duplicates(
    display: str, lines: dict[str, int], declared: dict[str, str]
) -> list[SpecError]:
    errors = []
    for key, line in lines.items():
        here = f"{display}:{line}"
        first = declared.setdefault(key, here)
        if first != here:
            errors.append(
                SpecError(
                    f"run key {key!r} is already declared at {first}",
                    file=display,
                    line=line,
                    field=f"testRuns.{key}",
                    hint="run keys are unique across all spec files: rename or remove one of them",
                )
            )
    return errors
