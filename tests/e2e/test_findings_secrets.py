"""Test case content and the API key stay where they belong, end to end (issue 20, "Bad
input"; PRODUCT.md, "Findings").

The simulator appends a marker to every prompt and response (``content_marker``). Real
processes run every command that reads or shows findings, with ``--debug``; then every output
and every file under the project (state, journal, backups, JUnit, SARIF, JSON, the report, the
step summary) is searched. The marker appears only where ``--include-content`` asked for it,
escaped for the medium; the API key appears nowhere at all.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.simulator.config import KeyGrant, SimulatorConfig
from reconciler.simulator.server import SimulatorServer
from tests.e2e.conftest import Cli, Result

SECRET = "splx-SECRET-3e9b1c7a5d2f-DO-NOT-LEAK"
#: Plain letters first (found however a medium escapes what follows), then markup.
MARKER = "zqCONTENTMARKER41d7"
PLANTED = MARKER + "<i>planted</i>"
FAILED_GATE = 3
SPEC = """\
workspaceId: 1234
defaults:
  gate:
    maxFailed: 0   # failing runs: the Markdown views list their findings
testRuns:
  sweep:
    targetId: 42
    probeIds: [101, 102]
  support:
    targetId: 43
    probeIds: [103]
"""


@pytest.fixture
def marked_sim() -> Iterator[SimulatorServer]:
    config = SimulatorConfig(
        keys={SECRET: KeyGrant(label="secret")}, start_after=0.0, content_marker=PLANTED
    )
    with SimulatorServer(config) as server:
        yield server


def _files(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_content_appears_only_with_include_content_and_the_key_never(
    tmp_path: Path, marked_sim: SimulatorServer
) -> None:
    sim = marked_sim
    cli = Cli(tmp_path, sim)
    cli.env["SPLX_API_KEY"] = SECRET
    cli.write_spec("runs.yaml", SPEC)
    out = tmp_path / "out"
    out.mkdir()
    sim.set_outcome(name="sweep", failed={101: 3, 102: 1}, finish_after=0)
    sim.set_outcome(name="support", failed=2, finish_after=0)
    results: list[Result] = []

    def proc(*args: str, env: dict[str, str | None] | None = None) -> Result:
        result = cli.proc(*args, "--debug", env=env)
        assert "Traceback" not in result.all, result.all
        results.append(result)
        return result

    assert proc("apply", "--auto-approve").code == 0
    sim.advance_clock(1)
    # The simulator really answers with the marker in every message.
    cases = sim.test_cases(sim.runs()[0]["testRunId"], "FAILED")
    assert cases and all(
        MARKER in m["content"] for tcs in cases.values() for tc in tcs for m in tc["messages"]
    )

    # Every command that reads or shows findings, without --include-content.
    summary = out / "summary.md"
    waited = proc(
        "wait",
        "--interval",
        "10ms",
        "--junit",
        str(out / "junit.xml"),
        "--sarif",
        str(out / "wait.sarif"),
        env={"GITHUB_STEP_SUMMARY": str(summary)},
    )
    assert waited.code == FAILED_GATE, waited.all
    assert "fields of the first" in waited.err  # the export was read, with --debug logging
    for fmt in ("text", "json", "markdown"):
        assert proc("status", "--format", fmt).code == FAILED_GATE
    for fmt in ("text", "json", "markdown", "sarif"):
        assert proc("findings", "--format", fmt).code == FAILED_GATE
        written = proc("findings", "--format", fmt, "--out", str(out / f"findings.{fmt}"))
        assert written.code == FAILED_GATE
    assert proc("findings", "--new").code == FAILED_GATE
    reread = proc("findings", "--reread")  # reads the content again, records identities only
    assert reread.code == FAILED_GATE and "fields of the first" in reread.err
    assert proc("report", "--out", str(out / "report.html")).code == 0
    assert proc("state", "list").code == 0
    assert proc("state", "show", "sweep", "--json").code == 0
    assert summary.exists() and (out / "junit.xml").exists() and (out / "wait.sarif").exists()
    assert any(".backups" in str(p) for p in _files(tmp_path)), "a backup was written"

    for result in results:
        assert MARKER not in result.all, result.all
    for path, data in _files(tmp_path).items():
        assert MARKER.encode() not in data, path

    # --include-content shows it, escaped for the medium; files written then hold it only
    # where asked for.
    shown: dict[str, Result] = {}
    for fmt in ("text", "json", "markdown", "sarif"):
        shown[fmt] = proc("findings", "--include-content", "--format", fmt)
        assert shown[fmt].code == FAILED_GATE, shown[fmt].all
        assert MARKER in shown[fmt].out, fmt
        assert MARKER not in shown[fmt].err, fmt  # --debug logs stay free of it
    assert PLANTED in shown["text"].out
    assert any(PLANTED in m["content"] for m in _messages(json.loads(shown["json"].out)))
    assert PLANTED not in shown["markdown"].out  # its markup is escaped
    asked = proc("report", "--include-content", "--out", str(out / "content.html"))
    assert asked.code == 0 and MARKER not in asked.all
    page = (out / "content.html").read_text()
    assert html.escape(PLANTED, quote=False) in page and PLANTED not in page

    asked_for = {out / "content.html"}
    for path, data in _files(tmp_path).items():
        assert (MARKER.encode() in data) == (path in asked_for), path
    for result in results:
        assert SECRET not in result.all
    for path, data in _files(tmp_path).items():
        assert SECRET.encode() not in data, path


def _messages(document: dict[str, object]) -> list[dict[str, str]]:
    """Every message of every finding in a ``findings --format json`` document."""
    found: list[dict[str, str]] = []

    def walk(value: object) -> None:
        if isinstance(value, dict):
            messages = value.get("messages")
            if isinstance(messages, list):
                found.extend(m for m in messages if isinstance(m, dict))
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(document)
    return found
