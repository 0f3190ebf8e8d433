"""Validate SARIF files with Microsoft's SARIF multitool, with GitHub's ingestion rules too.

    python tools/sarif-multitool/validate.py FILE...

Exit 0: no errors (warnings are printed); 1: errors, each printed as ``FILE: RULE: message``;
2: the validator is not installed (``npm ci`` in tools/sarif-multitool; scripts/test does).

The npm package's own ``bin.js`` passes its arguments through a shell, so a file name with a
blank or a quote would break it: this runs the native program it points at directly. Rule
kinds ``Sarif;Gh``: the SARIF 2.1.0 schema and rules, and GitHub Advanced Security's rules
(a result needs a location, a rule a full description and help, ...), which code scanning
applies on upload. Used by tests/results/test_sarif_validator.py and the demo.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def validator() -> Path | None:
    """The multitool's native program, or None when node or the npm package is missing."""
    node = shutil.which("node")
    if node is None or not (HERE / "node_modules" / "@microsoft" / "sarif-multitool").is_dir():
        return None
    # The package's index.js resolves the program of this platform's optional dependency.
    done = subprocess.run(  # noqa: S603 (node, found on PATH, and a fixed script)
        [node, "-p", "require('@microsoft/sarif-multitool')"],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    program = Path(done.stdout.strip())
    return program if done.returncode == 0 and program.is_file() else None


def validate(path: Path, program: Path) -> tuple[list[str], list[str]]:
    """The errors and the warnings the multitool reports on ``path``."""
    with tempfile.TemporaryDirectory() as scratch:
        log = Path(scratch, "validation.sarif")
        done = subprocess.run(  # noqa: S603 (the validator npm ci installed)
            [
                str(program),
                "validate",
                str(path),
                "--output",
                str(log),
                "--rule-kind",
                "Sarif;Gh",
                "--log",
                "ForceOverwrite",
                "--quiet",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if not log.is_file():
            return [f"the validator wrote no log (exit {done.returncode}): {done.stderr}"], []
        report = json.loads(log.read_text(encoding="utf-8"))
    errors: list[str] = []
    warnings: list[str] = []
    for run in report.get("runs", []):
        rules = {r["id"]: r for r in run.get("tool", {}).get("driver", {}).get("rules", [])}
        for notification in _notifications(run):
            errors.append(f"{path}: {notification}")
        for result in run.get("results", []):
            text = _text(result, rules)
            level = result.get("level", "warning")
            if level == "error":
                errors.append(f"{path}: {result.get('ruleId')}: {text}")
            elif level == "warning":
                warnings.append(f"{path}: {result.get('ruleId')}: {text}")
    return errors, warnings


def _notifications(run: dict[str, object]) -> list[str]:
    found = []
    for invocation in run.get("invocations", []) or []:  # type: ignore[attr-defined]
        for key in ("toolExecutionNotifications", "toolConfigurationNotifications"):
            for item in invocation.get(key, []):
                if item.get("level", "warning") == "error":
                    found.append(item.get("message", {}).get("text", "tool error"))
    return found


def _text(result: dict[str, object], rules: dict[str, dict[str, object]]) -> str:
    message = result.get("message", {})
    assert isinstance(message, dict)
    if "text" in message:
        return str(message["text"])
    # The multitool writes message ids with arguments; the rule holds the template.
    rule = rules.get(str(result.get("ruleId")), {})
    strings = rule.get("messageStrings", {})
    assert isinstance(strings, dict)
    template = strings.get(message.get("id", ""), {}).get("text", "{0}")
    try:
        return str(template).format(*message.get("arguments", []))
    except (IndexError, KeyError):
        return f"{template} {message.get('arguments')}"


def main(argv: list[str]) -> int:
    program = validator()
    if program is None:
        print(
            "sarif-multitool is not installed: run `npm ci` in tools/sarif-multitool "
            "(needs Node.js and npm)",
            file=sys.stderr,
        )
        return 2
    failed = False
    for name in argv:
        errors, warnings = validate(Path(name), program)
        for line in [*errors, *warnings]:
            print(line)
        print(f"{name}: {len(errors)} errors, {len(warnings)} warnings (sarif-multitool)")
        failed = failed or bool(errors)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
