"""The project config: an optional ``reconciler.yaml`` at the root of a repository.

It sets what a team would otherwise repeat on every command line: where the spec files and the
state live, which API server to use, a default ``workspaceId`` and named probe sets. It is
found by walking up from the working directory, like Git finds ``.git`` (the walk stops at the
repository root, so a stray file above the repository is never picked up).

Precedence, most explicit first: command-line options, then environment variables, then the
config file, then the built-in defaults. Relative paths in the file are relative to the
directory holding it, so a command behaves the same from any subdirectory.

The file is read like a spec file: YAML 1.2, strict types, unknown keys refused, every problem
reported at once with its file and line (``ConfigValidationError``), ``${VAR}`` interpolated.
"""

# Not ``from __future__ import annotations``: pydantic would compile every annotation of
# these models back from its string (docs/ARCHITECTURE.md, "Start-up stays light").

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    PrivateAttr,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationError,
    field_validator,
)

from reconciler.config_lookup import CONFIG_NAME
from reconciler.defaults import DEFAULT_MAX_MATRIX_RUNS
from reconciler.errors import SpecError
from reconciler.locations import is_postgres_url
from reconciler.records import Int32, normalise_probe_ids
from reconciler.results.gate import Gate
from reconciler.spec.messages import ConfigValidationError, validation_errors
from reconciler.spec.model import MatrixLimit, ProbeSet
from reconciler.spec.schema import (
    GATE_DESCRIPTION,
    Duration,
    LazyGateSpec,
    ProbeSetIds,
    ProbeSetName,
    SpecModel,
    model_json_schema,
)
from reconciler.spec.yaml_loader import (
    BLANK_NULL_HINT,
    BLANK_NULL_MESSAGE,
    blank_null,
    key_lines,
    locate,
    parse_yaml,
)

_Text = Annotated[StrictStr, StringConstraints(min_length=1)]


class ProjectConfig(SpecModel):
    """The keys of ``reconciler.yaml``; every one is optional."""

    specs: list[_Text] | None = Field(
        default=None, description="spec files or directories, relative to this file"
    )
    state: _Text | None = Field(
        default=None,
        description="state file (relative to this file) or postgresql:// URL",
    )
    region: Literal["eu", "us"] | None = Field(default=None, description="SPLX region")
    api_url: _Text | None = Field(default=None, description="Probe API base URL")
    workspace_id: Int32 | None = Field(
        default=None, description="workspace of runs whose spec file and run set none"
    )
    probe_sets: dict[ProbeSetName, ProbeSetIds] = Field(
        default_factory=dict,
        description="named lists of probe ids, usable in probeIds",
        json_schema_extra={"additionalProperties": False},
    )
    max_matrix_runs: Annotated[StrictInt, Field(ge=1)] = Field(
        default=DEFAULT_MAX_MATRIX_RUNS,
        description="most runs one matrix may expand to; a larger matrix is an error",
    )
    status_path: _Text | None = Field(
        default=None,
        description="path template of the status endpoint, with {testRunId} and optionally "
        "{workspaceId}; default /api/v2/test-run/{testRunId}/status",
    )
    findings_path: _Text | None = Field(
        default=None,
        description="path template of the test-case export (findings), with {probeRunId} and "
        "optionally {workspaceId}; default "
        "/api/workspaces/{workspaceId}/probe-run/{probeRunId}/test-cases/export",
    )
    platform_url: _Text | None = Field(
        default=None, description="SPLX Probe web UI base URL, for links to runs"
    )
    gate: LazyGateSpec | None = Field(
        default=None, description="the gate of every run; " + GATE_DESCRIPTION
    )
    rerun_after: Duration | None = Field(
        default=None,
        description="rerunAfter of every run whose spec and defaults set none (30m, 12h, 7d)",
    )

    @field_validator("specs", mode="before")
    @classmethod
    def _one_path_is_a_list(cls, value: object) -> object:
        # `specs: specs/` reads naturally for a single directory.
        return [value] if isinstance(value, str) else value

    _path: Path | None = PrivateAttr(default=None)
    _display: str = PrivateAttr(default=CONFIG_NAME)
    _set_lines: dict[str, int] = PrivateAttr(default_factory=dict)
    _spec_lines: list[int] = PrivateAttr(default_factory=list)
    _limit_line: int | None = PrivateAttr(default=None)

    @property
    def path(self) -> Path | None:
        """The file it was read from (None for an empty, in-memory config)."""
        return self._path

    @property
    def display(self) -> str:
        """How messages name the file."""
        return self._display

    def _resolve(self, relative: str) -> str:
        if self._path is None or Path(relative).is_absolute():
            return relative
        return _relative(self._path.parent / relative)

    def spec_paths(self) -> list[str] | None:
        """``specs``, relative to the working directory when under it; None when unset."""
        if self.specs is None:
            return None
        return [self._resolve(path) for path in self.specs]

    def missing_spec_path(self, path: str) -> SpecError | None:
        """The error for ``path`` of ``spec_paths()`` not existing, located at its line here.

        None when ``path`` is not one of them (it came from the command line).
        """
        resolved = self.spec_paths() or []
        if path not in resolved:
            return None
        index = resolved.index(path)
        written = self.specs[index] if self.specs is not None else path
        seen_as = f" (from here: {path})" if path != written else ""
        return SpecError(
            f"{written}{seen_as}: no such file or directory",
            file=self._display,
            line=self._spec_lines[index] if index < len(self._spec_lines) else None,
            field="specs",
            hint=f"fix the path in {self._display} (it is relative to that file), or create it",
        )

    def state_location(self) -> str | None:
        """``state`` resolved against this file's directory (URLs as written); None if unset."""
        if self.state is None:
            return None
        if is_postgres_url(self.state):
            return self.state
        return self._resolve(self.state)

    def default_gate(self) -> Gate:
        """The project's gate: below each file's ``defaults.gate`` and each run's own."""
        return self.gate.to_gate() if self.gate is not None else Gate()

    def matrix_limit(self) -> MatrixLimit:
        """``maxMatrixRuns``, with where it is set (None: the built-in default)."""
        where = f"{self._display}:{self._limit_line}" if self._limit_line is not None else None
        return MatrixLimit(self.max_matrix_runs, where)

    def probe_set_defs(self) -> dict[str, ProbeSet]:
        """The probe sets, each with where it is defined."""
        return {
            name: ProbeSet(
                name,
                None if ids is None else normalise_probe_ids(ids),
                f"{self._display}:{self._set_lines.get(name, 1)}",
            )
            for name, ids in self.probe_sets.items()
        }


def config_json_schema() -> dict[str, Any]:
    """JSON Schema of ``reconciler.yaml`` (``reconciler schema --config``), generated from
    ``ProjectConfig`` like the spec schema, so every key added there is in it."""
    schema = model_json_schema(ProjectConfig, "reconciler project config (reconciler.yaml)")
    # ``specs: specs/`` is read as a one-path list (``_one_path_is_a_list``).
    specs = schema["properties"]["specs"]
    described = {"description": specs.pop("description")} if "description" in specs else {}
    schema["properties"]["specs"] = {**described, "anyOf": [specs["items"], specs]}
    return schema


def load_project_config(path: Path, env: Mapping[str, str] | None = None) -> ProjectConfig:
    """Read and validate ``path``; raises ``ConfigValidationError`` with every problem."""
    display = _relative(path)
    try:
        content = path.read_bytes()
        text = content.decode("utf-8-sig")
    except OSError as exc:
        raise ConfigValidationError(
            [SpecError(f"cannot be read: {exc.strerror or exc}", file=display)], display
        ) from None
    except UnicodeDecodeError:
        raise ConfigValidationError(
            [SpecError("is not UTF-8 text", file=display, hint="save the file as UTF-8")], display
        ) from None
    parsed = parse_yaml(text, display, os.environ if env is None else env)
    errors = list(parsed.errors)
    data = parsed.data if parsed.root is not None else {}
    if not isinstance(data, dict):
        errors.append(
            SpecError(
                "expected a mapping of settings (specs, state, region, ...)",
                file=display,
                line=1,
                hint="see 'Project config' in docs/SPEC_FORMAT.md",
            )
        )
        raise ConfigValidationError(errors, display)
    config: ProjectConfig | None = None
    try:
        config = ProjectConfig.model_validate(data)
    except ValidationError as exc:
        errors.extend(validation_errors(exc, parsed, display, ProjectConfig))
    if config is not None and config.region is not None and config.api_url is not None:
        errors.append(
            SpecError(
                "region and apiUrl both choose the API server",
                file=display,
                line=key_lines(parsed.root).get("apiUrl"),
                field="apiUrl",
                hint="keep only one of them",
            )
        )
    if config is not None:
        errors.extend(
            SpecError(
                BLANK_NULL_MESSAGE,
                file=display,
                line=locate(parsed.root, ("probeSets", name)),
                field=f"probeSets.{name}",
                hint=BLANK_NULL_HINT,
            )
            for name, ids in config.probe_sets.items()
            if ids is None and blank_null(parsed.root, ("probeSets", name))
        )
    if errors or config is None:
        raise ConfigValidationError(sorted(errors, key=lambda e: e.line or 0), display)
    config._path = path
    config._display = display
    config._set_lines = key_lines(parsed.root, "probeSets")
    config._limit_line = key_lines(parsed.root).get("maxMatrixRuns")
    config._spec_lines = [
        locate(parsed.root, ("specs", i)) or locate(parsed.root, ("specs",)) or 1
        for i in range(len(config.specs or ()))
    ]
    return config


def _relative(path: Path) -> str:
    """``path`` as seen from the working directory (``../specs`` from a subdirectory)."""
    return Path(os.path.relpath(path.absolute())).as_posix()
