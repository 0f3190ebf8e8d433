"""The package's layers only point down, and no module imports itself round a cycle.

Every ``import`` of a ``reconciler`` module counts: at the top, inside a function (a lazy
import is still a dependency) and under ``TYPE_CHECKING``. docs/ARCHITECTURE.md draws the
layers; ``LAYERS`` below is the same drawing, lowest first. A module may import its own layer
and the layers below it, never one above.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "reconciler"

#: Lowest first: (layer name, modules or packages). The longest match places a module; the
#: package ``reconciler`` itself matches only itself, so a new module must be placed here.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "foundation",
        (
            "reconciler",  # the package itself: version only
            "reconciler.errors",
            "reconciler.records",
            "reconciler.durations",
            "reconciler.limits",
            "reconciler.defaults",
            "reconciler.files",
            "reconciler.redact",
            "reconciler.validation",
            "reconciler.collector",
            "reconciler.config_lookup",
            "reconciler.locations",
            "reconciler.markdown",
            "reconciler.older_env",
            "reconciler.pydantic_plugins",
            "reconciler.logs",
        ),
    ),
    ("results data", ("reconciler.results",)),
    # The project config and the spec files share their models and loader both ways.
    ("spec and config", ("reconciler.spec", "reconciler.config")),
    ("state", ("reconciler.state",)),
    ("api", ("reconciler.api",)),
    ("plan", ("reconciler.plan",)),
    ("execution and reading", ("reconciler.apply", "reconciler.reading")),
    ("simulator", ("reconciler.simulator",)),
    ("ui", ("reconciler.ui",)),
    ("commands", ("reconciler.commands",)),
    ("cli", ("reconciler.cli", "reconciler.__main__", "reconciler.entry")),
)


def modules(package: Path = PACKAGE) -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    found = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(source: str, known: Iterable[str]) -> set[str]:
    """The package's modules ``source`` imports, wherever the import statement stands."""
    names = set(known)

    def nearest(name: str) -> str | None:
        while name and name not in names:
            name = name.rpartition(".")[0]
        return name or None

    found: set[str | None] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(nearest(a.name) for a in node.names if a.name.startswith("reconciler"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] != "reconciler":
                continue
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in names else nearest(node.module))
    found.discard(None)
    return {name for name in found if name is not None}


def graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    known = modules(package)
    return {name: imports(path.read_text(), known) - {name} for name, path in known.items()}


def layer_of(module: str) -> int:
    best: tuple[int, int] | None = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            inside = module == prefix or (
                prefix != "reconciler" and module.startswith(prefix + ".")
            )
            if inside and (best is None or len(prefix) > best[1]):
                best = (index, len(prefix))
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS and ARCHITECTURE.md")
    return best[0]


def upward(edges: Mapping[str, set[str]]) -> list[str]:
    """``a -> b`` for every import of a higher layer's module."""
    return sorted(
        f"{source} ({LAYERS[layer_of(source)][0]}) -> {target} ({LAYERS[layer_of(target)][0]})"
        for source, targets in edges.items()
        for target in targets
        if layer_of(target) > layer_of(source)
    )


def cycles(edges: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_every_module_has_a_layer() -> None:
    for module in modules():
        layer_of(module)


def test_no_import_points_up_a_layer() -> None:
    assert upward(graph()) == []


def test_no_import_cycle() -> None:
    assert cycles(graph()) == []


def test_a_planted_upward_import_is_caught(tmp_path: Path) -> None:
    # A copy of the package with one import from the results data up into the API client.
    copy = tmp_path / "reconciler"
    for path in modules().values():
        target = copy / path.relative_to(PACKAGE)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text())
    planted = copy / "results" / "model.py"
    planted.write_text(
        planted.read_text() + "\n\ndef _late() -> None:\n    from reconciler.api import client\n"
    )
    edges = graph(copy)
    assert "reconciler.results.model (results data) -> reconciler.api.client (api)" in upward(edges)
    assert any("reconciler.results.model" in c for c in cycles(edges))


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import reconciler.errors", {"reconciler.errors"}),
        ("from reconciler.results import model", {"reconciler.results.model"}),
        ("from reconciler.results.model import RunResult", {"reconciler.results.model"}),
        ("if TYPE_CHECKING:\n    from reconciler.api.base import X", {"reconciler.api.base"}),
        ("def f():\n    import reconciler.ui", {"reconciler.ui"}),
        ("from . import x\nimport os", set()),
    ],
)
def test_imports_are_found_wherever_they_stand(source: str, expected: set[str]) -> None:
    assert imports(source, modules()) == expected
