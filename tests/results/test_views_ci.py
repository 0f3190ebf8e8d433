"""The CI views of a ResultSet: JUnit XML and the Markdown summary.

JUnit is parsed back with ``junitparser`` (a JUnit reader CI tooling uses) and validated with
``xmlschema`` against the structure Jenkins, GitLab and the GitHub report actions accept,
written out below from its published description (element and attribute names, what may
nest where), not copied from any project's schema file.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import junitparser
import pytest
import xmlschema

from reconciler.results.gate import Gate
from reconciler.results.model import Counts, ProbeRunResult, RunResult
from reconciler.results.observation import Observation, Refresh
from reconciler.results.summary import ResultSet, build_results
from reconciler.results.views.junit import render_junit
from reconciler.results.views.markdown import render_markdown, verdict_line
from tests.factories import attrs, result_of, tracked

JUNIT_XSD = """<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" elementFormDefault="qualified">
  <xs:complexType name="message" mixed="true">
    <xs:attribute name="message" type="xs:string"/>
    <xs:attribute name="type" type="xs:string"/>
  </xs:complexType>
  <xs:element name="testsuites">
    <xs:complexType>
      <xs:sequence>
        <xs:element ref="testsuite" minOccurs="0" maxOccurs="unbounded"/>
      </xs:sequence>
      <xs:attribute name="name" type="xs:string"/>
      <xs:attribute name="tests" type="xs:nonNegativeInteger"/>
      <xs:attribute name="failures" type="xs:nonNegativeInteger"/>
      <xs:attribute name="errors" type="xs:nonNegativeInteger"/>
      <xs:attribute name="skipped" type="xs:nonNegativeInteger"/>
      <xs:attribute name="time" type="xs:decimal"/>
    </xs:complexType>
  </xs:element>
  <xs:element name="testsuite">
    <xs:complexType>
      <xs:sequence>
        <xs:element name="properties" minOccurs="0">
          <xs:complexType>
            <xs:sequence>
              <xs:element name="property" maxOccurs="unbounded">
                <xs:complexType>
                  <xs:attribute name="name" type="xs:string" use="required"/>
                  <xs:attribute name="value" type="xs:string" use="required"/>
                </xs:complexType>
              </xs:element>
            </xs:sequence>
          </xs:complexType>
        </xs:element>
        <xs:element name="testcase" minOccurs="0" maxOccurs="unbounded">
          <xs:complexType>
            <xs:choice minOccurs="0" maxOccurs="unbounded">
              <xs:element name="skipped" type="message"/>
              <xs:element name="error" type="message"/>
              <xs:element name="failure" type="message"/>
              <xs:element name="system-out" type="xs:string"/>
              <xs:element name="system-err" type="xs:string"/>
            </xs:choice>
            <xs:attribute name="name" type="xs:string" use="required"/>
            <xs:attribute name="classname" type="xs:string"/>
            <xs:attribute name="time" type="xs:decimal"/>
          </xs:complexType>
        </xs:element>
        <xs:element name="system-out" type="xs:string" minOccurs="0"/>
        <xs:element name="system-err" type="xs:string" minOccurs="0"/>
      </xs:sequence>
      <xs:attribute name="name" type="xs:string" use="required"/>
      <xs:attribute name="tests" type="xs:nonNegativeInteger" use="required"/>
      <xs:attribute name="failures" type="xs:nonNegativeInteger"/>
      <xs:attribute name="errors" type="xs:nonNegativeInteger"/>
      <xs:attribute name="skipped" type="xs:nonNegativeInteger"/>
      <xs:attribute name="time" type="xs:decimal"/>
    </xs:complexType>
  </xs:element>
</xs:schema>
"""


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(JUNIT_XSD)


def probe(name: str, status: str = "Finished", **counts: int) -> ProbeRunResult:
    c = Counts(**counts)
    return ProbeRunResult(probe_name=name, status=status, counts=c)


def results_of(
    rows: dict[str, RunResult | Exception | None], gates: dict[str, Gate] | None = None
) -> ResultSet:
    observations = {}
    for index, (key, result) in enumerate(rows.items()):
        run = tracked(attrs(target_id=40 + index), 100 + index)
        if isinstance(result, Exception):
            observations[key] = Observation(key, run, None, "none", error=str(result))
        else:
            observations[key] = Observation(key, run, result, "api" if result else "none")
    return build_results(
        Refresh(observations), gates or {}, platform="https://probe.splx.ai", read_at="t"
    )


def mixed() -> ResultSet:
    return results_of(
        {
            "clean": result_of(100),
            "leaky": RunResult(
                test_run_id=101,
                status="Finished",
                probe_runs=(
                    probe("Jailbreak", total=10, passed=6, failed=4),
                    probe('Prompt <injection> & "quotes" 🚀', total=5, passed=4, errored=1),
                    probe("Toxicity\x07bell\nline", total=3, passed=3),
                ),
                seen_at="t",
            ),
            "broken": RunResult(
                test_run_id=102,
                status="Error",
                probe_runs=(probe("Data leak", status="Error"),),
                seen_at="t",
            ),
            "going": result_of(103, status="Running"),
            "unread": RuntimeError("status of 'unread': the API failed (HTTP 503)"),
        },
        {"leaky": Gate(max_failed=0)},
    )


def test_junit_validates_and_reads_back_as_ci_systems_read_it(
    schema: xmlschema.XMLSchema,
) -> None:
    document = render_junit(mixed())
    schema.validate(document.decode())
    xml = junitparser.JUnitXml.fromstring(document)
    suites = {suite.name: suite for suite in xml}
    assert set(suites) == {"clean", "leaky", "broken", "going", "unread"}
    leaky = suites["leaky"]
    props = {p.name: p.value for p in leaky.properties()}
    assert props["testRunId"] == "101"
    assert props["url"] == "https://probe.splx.ai/w/1234/target/41/test-runs/101"
    cases = {case.name: case for case in leaky}
    assert set(cases) == {
        "Jailbreak",
        'Prompt <injection> & "quotes" 🚀',
        "Toxicity\ufffdbell\nline",  # a control character XML cannot carry; a newline kept
        "gate",
    }
    assert all(case.classname == "leaky" for case in cases.values())
    [failure] = cases["Jailbreak"].result
    assert isinstance(failure, junitparser.Failure)
    assert failure.message == "4 failed test cases of 10"
    [error] = cases['Prompt <injection> & "quotes" 🚀'].result
    assert isinstance(error, junitparser.Error)
    assert cases["Toxicity\ufffdbell\nline"].is_passed
    [gate] = cases["gate"].result
    assert isinstance(gate, junitparser.Failure)
    assert "4 failed test cases, at most 0 allowed" in (gate.message or "")
    assert (leaky.tests, leaky.failures, leaky.errors) == (4, 2, 1)


def test_junit_maps_error_timeouts_and_unreadable_runs() -> None:
    xml = junitparser.JUnitXml.fromstring(render_junit(mixed()))
    suites = {suite.name: suite for suite in xml}

    def outcome(suite: str, case: str) -> type | None:
        found = next(c for c in suites[suite] if c.name == case)
        return type(found.result[0]) if found.result else None

    assert outcome("broken", "Data leak") is junitparser.Error
    assert outcome("broken", "gate") is junitparser.Failure  # failOn: Error by default
    assert outcome("going", "gate") is junitparser.Skipped
    assert outcome("going", "Probe 101") is junitparser.Skipped
    assert outcome("unread", "gate") is junitparser.Error
    assert outcome("clean", "gate") is None
    assert (xml.tests, xml.failures, xml.errors) == (
        sum(s.tests for s in xml),
        sum(s.failures for s in xml),
        sum(s.errors for s in xml),
    )


def test_markdown_puts_the_verdict_first_and_escapes_cells() -> None:
    results = results_of(
        {
            "clean": result_of(100),
            "leaky": RunResult(
                test_run_id=101,
                status="Finished",
                probe_runs=(probe("p", total=10, failed=4, passed=6),),
                seen_at="t",
            ),
        },
        {"leaky": Gate(max_failed=0)},
    )
    text = render_markdown(results, waiting=True)
    lines = text.splitlines()
    assert lines[0] == "### reconciler results"
    assert lines[2] == "❌ **1 of 2 runs failed its gate.**"
    assert lines[4] == "| run | status | failed/total | gate | link |"
    # Failing rows first; every row has exactly five cells.
    assert lines[6].startswith("| `leaky` | Finished | 4/10 | ❌ failed: 4 failed test cases")
    assert lines[6].endswith("[run 101](https://probe.splx.ai/w/1234/target/41/test-runs/101) |")
    assert lines[7].startswith("| `clean` | Finished | 0/10 | ✅ passed |")


def test_markdown_escapes_pipes_and_newlines_in_reasons() -> None:
    from reconciler.results.views.markdown import _cell

    assert _cell("a|b\nc<d>") == "a\\|b<br>c&lt;d&gt;"
    # A GitHub table row splits on unescaped pipes only.
    row = "| " + _cell("x|y") + " | z |"
    assert len([p for p in row.replace("\\|", "").split("|") if p.strip()]) == 2


@pytest.mark.parametrize(
    ("rows", "waiting", "line"),
    [
        ({"a": result_of(1)}, True, "The run passed its gate."),
        ({"a": result_of(1), "b": result_of(2)}, True, "All 2 runs passed their gates."),
        (
            {"a": result_of(1), "b": result_of(2, status="Running")},
            True,
            "No gate failed; 1 of 2 runs were still going when the wait ended.",
        ),
        ({"a": RuntimeError("HTTP 503")}, True, "1 of 1 run could not be read."),
    ],
)
def test_verdict_lines(rows: dict[str, RunResult | Exception], waiting: bool, line: str) -> None:
    assert verdict_line(results_of(rows), waiting=waiting) == line


def test_junit_of_ten_thousand_runs_is_well_formed() -> None:
    results = results_of({f"run-{i:05d}": result_of(i, failed=i % 3) for i in range(10_000)})
    root = ET.fromstring(render_junit(results))
    assert len(root) == 10_000
    assert root.get("tests") == str(10_000 * 2)
