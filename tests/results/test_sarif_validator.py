"""Microsoft's SARIF validator (``sarif-multitool validate``, with GitHub's ingestion rules) on
the SARIF view: no errors on a small file like the demo's and on one with 1,000 findings, and
it does find errors in a broken file (so a pass means something).

The validator is the npm package pinned in tools/sarif-multitool (``npm ci`` there; scripts/test
does). Without Node or the package these tests skip, saying why; in CI (``CI`` set) they fail.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from types import ModuleType

import pytest

from reconciler.results.findings_read import Message
from reconciler.results.views.sarif import render_sarif
from tests.factories import finding
from tests.results.sarif_rows import Run, result_set

ROOT = Path(__file__).resolve().parents[2]


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "sarif_validate", ROOT / "tools" / "sarif-multitool" / "validate.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TOOL = _tool()


@pytest.fixture(scope="module")
def program() -> Path:
    found: Path | None = TOOL.validator()
    if found is None:
        message = (
            "sarif-multitool is not installed: run `npm ci` in tools/sarif-multitool "
            "(scripts/test does; needs Node.js and npm)"
        )
        if os.environ.get("CI"):
            pytest.fail(f"{message}; in CI it must run")
        pytest.skip(message)
    return found


def validate(path: Path, program: Path) -> list[str]:
    errors, _warnings = TOOL.validate(path, program)
    return list(errors)


def test_a_small_file_like_the_demos_passes(tmp_path: Path, program: Path) -> None:
    a, b, c = finding(101, "CTLO-6-3"), finding(102, "PI-2", variation=None), finding(101, "X")
    results = result_set(
        Run(
            "chatbot-jailbreak",
            5001,
            [a, b],
            previous=[a, c],
            messages={a.fingerprint: (Message("user", "<script>[x](1)</script>\x00"),)},
        ),
        Run("support-bot", 6000, [a], spec=None, workspace_id=77),
        Run("still-going", 7000, [], status="Running"),
    )
    document = render_sarif(results, repo_root=ROOT, tool_version="0.1.0", include_content=True)
    path = tmp_path / "findings.sarif"
    path.write_text(document.text, encoding="utf-8")
    assert validate(path, program) == []


def test_a_file_with_1000_findings_passes(tmp_path: Path, program: Path) -> None:
    runs = [
        Run(
            f"key-{k:02d}",
            5000 + k * 10,
            [finding(101 + i % 3, f"ATTACK-{k}-{i}", red_teamer=f"rt {i % 7}") for i in range(50)],
            previous=[finding(101, f"ATTACK-{k}-{i}", red_teamer="rt 0") for i in range(0, 50, 7)],
            workspace_id=1234 + k % 3,
            spec=(f"specs/team-{k % 4}.yaml", 3 + k),
            probes=(101, 102, 103),
        )
        for k in range(20)
    ]
    document = render_sarif(result_set(*runs), repo_root=ROOT, tool_version="0.1.0")
    assert document.results == 1000
    path = tmp_path / "many findings.sarif"  # a blank: the validator is run without a shell
    path.write_text(document.text, encoding="utf-8")
    assert validate(path, program) == []


def test_the_validator_finds_errors_in_a_broken_file(tmp_path: Path, program: Path) -> None:
    document = json.loads(
        render_sarif(result_set(Run("a", 5000, [finding()])), repo_root=ROOT, tool_version="1").text
    )
    result = document["runs"][0]["results"][0]
    del result["locations"]  # code scanning rejects a result without a location
    path = tmp_path / "broken.sarif"
    path.write_text(json.dumps(document), encoding="utf-8")
    errors = validate(path, program)
    assert errors and any("locations" in e for e in errors), errors
