"""The GitLab CI/CD component (templates/reconciler.yml) and the example that includes it.

A component file is two YAML documents: the header (`spec: inputs:`) and, after `---`, the
jobs, where `$[[ inputs.NAME ]]` is replaced by GitLab when the file is included. The jobs'
shell steps are run in test_examples.py (exit codes of plan, the MR note).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPONENT = ROOT / "templates" / "reconciler.yml"
EXAMPLE = ROOT / "examples" / "ci" / "gitlab-ci.yml"
INTERPOLATION = re.compile(r"\$\[\[\s*inputs\.([\w-]+)\s*\]\]")
INPUT_TYPES = {"string", "boolean", "number", "array"}


def documents() -> tuple[dict[str, Any], dict[str, Any]]:
    text = COMPONENT.read_text(encoding="utf-8")
    header, jobs = yaml.safe_load_all(text)
    return header, jobs


def test_component_is_a_header_and_jobs_in_two_yaml_documents() -> None:
    header, jobs = documents()
    assert set(header) == {"spec"}
    assert set(header["spec"]) == {"inputs"}
    assert {"reconciler-plan", "reconciler-apply"} <= set(jobs)


def test_every_input_is_declared_described_typed_and_used() -> None:
    header, _ = documents()
    inputs = header["spec"]["inputs"]
    body = COMPONENT.read_text(encoding="utf-8").split("\n---\n", 1)[1]
    used = set(INTERPOLATION.findall(body))
    assert used == set(inputs), "an input nobody uses, or one used but not declared"
    for name, spec in inputs.items():
        assert re.fullmatch(r"[a-z][a-z-]*", name), name
        assert spec["description"], name
        kind = spec.get("type", "string")
        assert kind in INPUT_TYPES, name
        # Every input has a default: including the component needs no inputs at all.
        assert "default" in spec, name
        expected = {"string": str, "boolean": bool, "number": (int, float), "array": list}
        assert isinstance(spec["default"], expected[kind]), name  # type: ignore[arg-type]


def test_interpolation_only_in_values_gitlab_allows() -> None:
    # In the header nothing may be interpolated; in the jobs, only in values (not keys).
    header = COMPONENT.read_text(encoding="utf-8").split("\n---\n", 1)[0]
    assert not INTERPOLATION.search(header)
    body = COMPONENT.read_text(encoding="utf-8").split("\n---\n", 1)[1]
    for line in body.splitlines():
        key = line.split(":", 1)[0]
        assert not INTERPOLATION.search(key), line


def test_jobs_plan_on_merge_requests_and_apply_on_the_default_branch() -> None:
    _, jobs = documents()
    plan, apply = jobs["reconciler-plan"], jobs["reconciler-apply"]
    for job in (plan, apply):
        assert job["extends"] == ".reconciler"
        assert job["stage"].startswith("$[[ inputs.")
    assert plan["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
    assert plan["interruptible"] is True
    assert "<!-- reconciler-plan -->" in "\n".join(plan["script"])
    assert apply["resource_group"] == "reconciler-apply"
    assert apply["interruptible"] is False
    assert apply["artifacts"]["reports"] == {"junit": "reconciler-junit.xml"}
    script = "\n".join(apply["script"])
    assert "--wait --junit reconciler-junit.xml" in script
    install = "\n".join(jobs[".reconciler"]["before_script"])
    assert 'requirement="splx-reconciler"' in install
    assert "splx-reconciler[postgres]" in install


def test_example_includes_the_component_with_inputs_it_declares() -> None:
    example = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    [include] = example["include"]
    # $CI_SERVER_FQDN/<project path>/<component name>@<version>; the name is the file's.
    match = re.fullmatch(
        r"\$CI_SERVER_FQDN/[\w.-]+/[\w.-]+/([\w-]+)@[\w.~^-]+", include["component"]
    )
    assert match, include["component"]
    assert (ROOT / "templates" / f"{match.group(1)}.yml") == COMPONENT
    header, _ = documents()
    assert set(include["inputs"]) <= set(header["spec"]["inputs"])
    stages = {header["spec"]["inputs"][f"{kind}-stage"]["default"] for kind in ("plan", "apply")}
    assert stages <= set(example["stages"]), "the jobs' default stages must exist"
