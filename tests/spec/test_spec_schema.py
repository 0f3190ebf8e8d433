"""The pydantic models and the JSON Schema editors get from them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from pydantic import ValidationError

from reconciler.config import config_json_schema
from reconciler.spec.schema import SpecFile, is_run_key, spec_json_schema
from reconciler.spec.yaml_loader import parse_yaml

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "specs"


def yaml_data(path: Path) -> Any:
    return parse_yaml(path.read_text(), path.name).data


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = spec_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize(
    "path",
    sorted((ROOT / "specs" / "examples").glob("*.yaml"))
    + sorted(
        p
        for p in (DATA / "valid").rglob("*.y*ml")
        if not any(part.startswith(".") for part in p.relative_to(DATA).parts)
    )
    + sorted((DATA / "defaults").glob("*.yaml")),
    ids=lambda p: p.name,
)
def test_valid_files_pass_the_json_schema(
    validator: jsonschema.Draft202012Validator, path: Path
) -> None:
    validator.validate(yaml_data(path))


@pytest.mark.parametrize(
    "name",
    [
        "unknown_fields.yaml",
        "wrong_types.yaml",
        "int32.yaml",
        "nulls.yaml",
        "bad_keys.yaml",
        "no_test_runs.yaml",
        "top_level_list.yaml",
    ],
)
def test_invalid_files_fail_the_json_schema(
    validator: jsonschema.Draft202012Validator, name: str
) -> None:
    assert not validator.is_valid(yaml_data(DATA / "errors" / name))


def test_schema_offers_null_only_for_probe_ids_and_no_python_names() -> None:
    schema = spec_json_schema()
    defs = schema["$defs"]
    for where in (defs["RunSpec"], defs["Defaults"]):
        offered = where["properties"].pop("probeIds")
        assert {"type": "null"} in offered["anyOf"]
    sets = schema["properties"].pop("probeSets")["patternProperties"]
    assert all({"type": "null"} in ids["anyOf"] for ids in sets.values())
    text = str(schema)
    assert "'null'" not in text
    assert "target_id" not in text
    assert "'title': 'Targetid'" not in text


@pytest.mark.parametrize(
    "run",
    [
        {"targetId": True},
        {"targetId": "42"},
        {"targetId": 42.0},
        {"probeIds": [True]},
        {"probeIds": (1, 2)},
        {"runAiAnalysis": 1},
        {"runAiAnalysis": "true"},
        {"name": 5},
        {"name": ""},
        {"target_id": 1},
        {"targetId": None},
    ],
)
def test_models_are_strict(run: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        SpecFile.model_validate({"testRuns": {"r": run}})


def test_defaults_accept_exactly_the_documented_fields() -> None:
    defaults = {
        "targetId": 1,
        "probeIds": [1],
        "runAiAnalysis": True,
        "notifyWhenFinished": True,
        "protect": True,
    }
    SpecFile.model_validate({"defaults": defaults, "testRuns": {}})
    for extra in ("workspaceId", "name"):
        with pytest.raises(ValidationError):
            SpecFile.model_validate({"defaults": {extra: 1}, "testRuns": {}})


@pytest.mark.parametrize(
    ("key", "ok"),
    [
        ("chatbot-jailbreak", True),
        ("team/bot:jb[eu]=1,x_y.z", True),
        ("9lives", True),
        ("a" * 200, True),
        ("a" * 201, False),
        ("", False),
        ("-x", False),
        ("has space", False),
        ("semi;colon", False),
        ("quote'", False),
        ("new\nline", False),
    ],
)
def test_run_key_charset(key: str, ok: bool) -> None:
    assert is_run_key(key) is ok


@pytest.mark.parametrize(
    ("name", "make"),
    [("spec", spec_json_schema), ("config", config_json_schema)],
)
def test_the_json_schemas_match_their_recorded_copies(name: str, make: Any) -> None:
    # What editors are given must not change by accident, e.g. when a nested model's
    # schema is built lazily (schema._built_on_first_use). After an intended change:
    #   python -c "import json; from reconciler.spec.schema import spec_json_schema as s;
    #              print(json.dumps(s(), indent=1))" > tests/data/schemas/spec.schema.json
    recorded = (ROOT / "tests" / "data" / "schemas" / f"{name}.schema.json").read_text()
    assert json.dumps(make(), indent=1) == recorded
