"""The distribution as users install it: its name, version, metadata, docs and image recipe.

Building and installing the wheel is scripts/release-check's job (run by .ci/run, about a
minute); these checks read the files it builds from and run in a fraction of a second.
"""

from __future__ import annotations

import fnmatch
import importlib.metadata
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from reconciler import __version__
from reconciler.cli import cli
from reconciler.defaults import DISTRIBUTION
from tests.integrations.test_examples import cli_surface, problems

ROOT = Path(__file__).resolve().parents[2]


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_distribution_is_splx_reconciler_and_the_command_reconciler() -> None:
    project = pyproject()["project"]
    assert project["name"] == DISTRIBUTION == "splx-reconciler"
    assert project["scripts"] == {"reconciler": "reconciler.entry:main"}


def test_version_is_the_installed_distributions_everywhere() -> None:
    installed = importlib.metadata.version(DISTRIBUTION)
    assert installed == pyproject()["project"]["version"] == __version__
    result = CliRunner().invoke(cli, ["--version"], prog_name="reconciler")
    assert result.exit_code == 0
    assert result.output == f"reconciler, version {installed}\n"


def test_metadata_a_packager_expects() -> None:
    project = pyproject()["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    assert "Apache License" in (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Version 2.0" in (ROOT / "LICENSE").read_text(encoding="utf-8")
    classifiers = project["classifiers"]
    assert "Typing :: Typed" in classifiers
    assert f"Programming Language :: Python :: {project['requires-python'][2:]}" in classifiers
    # PEP 639: with a license expression, license classifiers are not allowed.
    assert not [c for c in classifiers if c.startswith("License ::")]
    assert {"Homepage", "Repository", "Issues", "Changelog"} <= set(project["urls"])


def test_package_data_covers_schemas_templates_and_py_typed() -> None:
    patterns = pyproject()["tool"]["setuptools"]["package-data"]["reconciler"]
    wanted = [
        "py.typed",
        "schemas/plan.schema.json",
        "templates/report.html",
        "results/templates/report.html.j2",
        "report/static/report.css",
    ]
    for path in wanted:
        assert any(fnmatch.fnmatch(path, pattern) for pattern in patterns), path
    assert "graft reconciler" in (ROOT / "MANIFEST.in").read_text(encoding="utf-8")


def test_changelog_keeps_a_changelog_from_0_1_0() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert text.startswith("# Changelog\n")
    assert "keepachangelog.com" in text
    sections = re.findall(r"^## \[([^\]]+)\]", text, re.MULTILINE)
    assert sections[0] == "Unreleased"
    assert sections[-1] == "0.1.0"
    assert pyproject()["project"]["version"] in sections
    for section in sections:  # each heading links to its diff or release
        assert re.search(rf"^\[{re.escape(section)}\]: https://", text, re.MULTILINE), section
    unreleased = text.split("## [Unreleased]", 1)[1].split("\n## [", 1)[0]
    for feature in ("status", "wait", "gate", "JUnit", "report"):
        assert feature in unreleased, feature


# --- Docs install it by its name ----------------------------------------------------------

USER_FACING = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    *sorted((ROOT / "examples").rglob("*.yml")),
    ROOT / "templates" / "reconciler.yml",
    ROOT / "action.yml",
    ROOT / "Dockerfile",
]
# `reconciler` as what pip, pipx or uv installs: the wrong project on PyPI.
WRONG_INSTALL = re.compile(
    r"(?:pip3?|pipx|uv tool|uv pip|python3? -m pip) install[^\n|;&#]*?"
    r"\s['\"]?reconciler(?![\w-])(?!\s*@)"
)


def test_nothing_tells_anyone_to_install_the_bare_name_reconciler() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in USER_FACING
        for match in WRONG_INSTALL.finditer(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_the_wrong_install_pattern_catches_what_it_must() -> None:
    for text in (
        "pip install reconciler",
        "pipx install 'reconciler[postgres]'",
        "uv tool install reconciler",
        "pip install -U reconciler==0.1",
    ):
        assert WRONG_INSTALL.search(text), text
    for text in (
        "pip install splx-reconciler",
        "pip install 'splx-reconciler[postgres]'",
        "pip install .",
        'pip install "reconciler @ git+https://x/reconciler"',
    ):
        assert not WRONG_INSTALL.search(text), text


def test_readme_installs_first_then_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## (.+)$", text, re.MULTILINE)
    assert headings[:2] == ["Install", "The two commands"]
    install = text.split("## Install\n", 1)[1].split("\n## ", 1)[0]
    for command in (
        "pipx install splx-reconciler",
        "uv tool install splx-reconciler",
        "pip install 'splx-reconciler[postgres]'",
    ):
        assert command in install


# --- CI runs the release check; the image installs what it builds -------------------------


def test_ci_runs_the_release_check_and_the_readme_test_command() -> None:
    lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    commands = [line.split()[0] for line in lines if line.startswith("scripts/")]
    assert "scripts/release-check" in commands
    assert commands[-1] == "scripts/test", "the suite's closing line must end the CI log"
    check = (ROOT / "scripts" / "release-check").read_text(encoding="utf-8")
    for step in ('python" -m build', 'twine" check --strict', "venv", "scripts/demo"):
        assert step in check, step


def test_container_doc_runs_only_real_commands_and_options() -> None:
    text = (ROOT / "docs" / "CONTAINER.md").read_text(encoding="utf-8")
    runs = re.findall(r"^docker run .* reconciler:[\w.]+ (.+)$", text, re.MULTILINE)
    assert len(runs) == 3
    surface = cli_surface()
    assert [problem for run in runs for problem in problems(shlex.split(run), surface)] == []


def wheel_name() -> str:
    project = pyproject()["project"]
    # The wheel's file name: the name normalised with underscores (PEP 427/625).
    return f"{re.sub(r'[-_.]+', '_', project['name'])}-{project['version']}-py3-none-any.whl"


def test_dockerfile_installs_the_built_wheel_by_name_as_a_non_root_user() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    instructions = [
        line.split(None, 1)
        for line in re.sub(r"\\\n", " ", text).splitlines()
        if line and not line.startswith("#")
    ]
    keywords = [keyword for keyword, _ in instructions]
    values = dict(reversed(instructions))  # the first of each
    assert re.fullmatch(r"python:3\.\d+-slim", values["FROM"])
    copy = next(rest for keyword, rest in instructions if keyword == "COPY").split()
    assert copy[0].startswith("dist/")
    assert fnmatch.fnmatch(f"dist/{wheel_name()}", copy[0])
    assert not fnmatch.fnmatch("dist/reconciler-0.1.0-py3-none-any.whl", copy[0])
    install = next(rest for keyword, rest in instructions if keyword == "RUN" and "pip" in rest)
    assert re.search(r"pip install \"\$1\[postgres\]\"", install)
    assert values["USER"] not in ("root", "0")
    assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k == "RUN")
    assert values["WORKDIR"] == "/work"
    assert values["ENTRYPOINT"] == '["reconciler"]'
    ignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert "*" in ignore and "!dist/*.whl" in ignore
