"""Findings in the CI views: Markdown (step summary, PR comment) and JUnit.

The Markdown is rendered back with markdown-it-py (CommonMark with GFM tables, as GitHub
renders), so the tests see what a reader sees: which elements exist, how many cells a row has.
"""

from __future__ import annotations

import html
import re

import junitparser
import pytest
import xmlschema
from markdown_it import MarkdownIt

from reconciler.results.views.inert import JOINER, md_inert, md_pre
from reconciler.results.views.junit import render_junit
from reconciler.results.views.listing import cut
from reconciler.results.views.markdown import MAX_LISTED, render_markdown
from tests.results.findings_rows import HOSTILE, MARKER, findings_set
from tests.results.test_views_ci import JUNIT_XSD


def html_of(markdown: str) -> str:
    rendered: str = MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)
    return rendered


def test_a_failing_run_lists_its_new_findings_in_a_collapsed_block() -> None:
    text = render_markdown(findings_set())
    assert "<details><summary><code>leaky</code>: 6 failed &#40;4 new, 2 known; 1 fixed&#41;" in (
        text
    )
    page = html_of(text)
    # The verdict table and the findings table, as tables.
    assert page.count("<table>") == 2
    findings = page.split("<table>")[2]
    rows = findings.split("<tr>")[2:]  # after the header row
    assert len(rows) == 4  # the new ones only: N00, N01, N02, the hostile one
    assert all(row.count("<td>") == 6 for row in rows)  # no pipe split a cell
    assert [re.findall(r"<td>([^<]*)</td>", row)[1] for row in rows[:3]] == ["N00", "N01", "N02"]
    assert "K1" not in findings and "F1" not in findings  # known and fixed are only counted
    assert (
        'href="https://probe.splx.ai/w/1234/target/42/test-runs/2001/probe/20010?tab=results"'
        in (findings)
    )
    assert "clean</code>" not in text  # a passing run has no block


def test_untrusted_values_render_as_text_not_markup_and_ping_nobody() -> None:
    page = html_of(render_markdown(findings_set()))
    hostile_row = next(r for r in page.split("<tr>") if "octocat" in r)
    # The only elements in the row are its cells and the probe run's link.
    assert re.findall(r"<(\w+)", hostile_row) == ["td"] * 6 + ["a"]
    assert "evil.test" not in re.findall(r'href="([^"]*)"', hostile_row)[0]
    # Shown as the characters they are; @ and # broken by an invisible joiner.
    assert "A|B `x` &lt;b&gt;bold&lt;/b&gt;" in hostile_row
    assert f"@{JOINER}octocat" in hostile_row and f"#{JOINER}12" in hostile_row
    assert re.search(r"@octocat|#12", hostile_row) is None


@pytest.mark.parametrize(
    "value",
    [HOSTILE, "`` ``` ` | \\| \\", "<script>alert(1)</script>", "[x](javascript:alert(1))"],
)
def test_md_inert_leaves_no_markup_for_commonmark(value: str) -> None:
    rendered = html_of(f"| a | b |\n| --- | --- |\n| {md_inert(value)} | z |\n")
    cells = re.findall(r"<td>(.*?)</td>", rendered, re.S)
    assert len(cells) == 2 and cells[1] == "z"
    assert "<" not in cells[0]  # no element of any kind in the cell
    shown = cells[0].replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
    shown = shown.replace("&amp;", "&").replace(JOINER, "")
    assert shown == " ".join(value.replace("\x07", "").split("\n")).replace("\t", " ")


def test_content_appears_only_when_asked_for_cut_and_in_a_block_it_cannot_close() -> None:
    results = findings_set()
    assert MARKER not in render_markdown(results)
    text = render_markdown(results, include_content=True, content_limit=60)
    assert MARKER in text
    page = html_of(text)
    blocks = re.findall(r"<pre>(.*?)</pre>", page, re.S)
    assert len(blocks) == 4  # one per listed new finding, each closed by our own </pre>
    assert all("<" not in block for block in blocks)  # "</pre>" and "<script>" stayed text
    assert "[cut: 1940 more characters]" in html.unescape(blocks[0])
    assert "x" * 61 not in text


def test_only_the_first_twenty_new_findings_are_listed_then_how_many_more() -> None:
    text = render_markdown(findings_set(new_on_101=30))
    rows = [line for line in text.splitlines() if "/probe/" in line]
    assert len(rows) == MAX_LISTED
    assert "and 11 more new findings" in text  # 30 + the hostile one, 20 shown


def test_the_findings_blocks_stay_within_the_comment_budget() -> None:
    results = findings_set(new_on_101=30)
    whole = render_markdown(results)
    small = render_markdown(results, limit=len(whole) - 10)
    assert "<details>" not in small
    assert "the new findings of 0 of 1 failing runs are shown" in small
    assert len(small.encode("utf-16-le")) // 2 <= len(whole) - 10


def test_md_pre_keeps_lines_and_drops_controls() -> None:
    assert md_pre("a\r\nb\x00\u202ec") == "a\nbc"
    assert cut("abcdef", 4) == "abcd… [cut: 2 more characters]"
    assert cut("abcd", 4) == "abcd"


def test_junit_failure_counts_and_lists_a_probe_runs_findings_new_first() -> None:
    document = render_junit(findings_set())
    xmlschema.XMLSchema(JUNIT_XSD).validate(document.decode())
    suites = {suite.name: suite for suite in junitparser.JUnitXml.fromstring(document)}
    cases = {case.name: case for case in suites["leaky"]}
    [failure] = cases["Probe 101"].result
    assert failure.message == "4 failed test cases of 100: 3 new, 1 known"
    lines = (failure.text or "").splitlines()[1:]
    assert [line.split(",")[0] for line in lines] == [
        "new: attack N00",
        "new: attack N01",
        "new: attack N02",
        "known: attack K1",
    ]
    assert lines[0].endswith("/test-runs/2001/probe/20010?tab=results")
    [other] = cases["Probe 102"].result
    assert other.message == "2 failed test cases of 100: 1 new, 1 known"
    assert "A|B `x` <b>bold</b> @octocat" in (other.text or "")  # text, escaped in the XML
    assert "\x07" not in (other.text or "")
    assert MARKER not in document.decode()


def test_junit_content_only_when_asked_and_still_valid() -> None:
    document = render_junit(findings_set(), include_content=True, content_limit=40)
    xmlschema.XMLSchema(JUNIT_XSD).validate(document.decode())
    assert b"<script>" not in document and b"&lt;script&gt;" in document
    suites = {suite.name: suite for suite in junitparser.JUnitXml.fromstring(document)}
    [failure] = next(c for c in suites["leaky"] if c.name == "Probe 101").result
    text = failure.text or ""
    assert MARKER in text and "[cut: 1960 more characters]" in text
    assert "  user: " in text and "x" * 41 not in text


def test_junit_says_when_findings_are_not_known() -> None:
    results = findings_set()
    row = results.rows[1]
    assert row.key == "leaky" and row.findings is not None
    from dataclasses import replace

    from reconciler.results.summary import RowFindings

    unknown = replace(row, findings=RowFindings(diff=None, read={}, not_read="--no-findings"))
    document = render_junit(replace(results, rows=(unknown,)))
    [suite] = junitparser.JUnitXml.fromstring(document)
    [failure] = next(c for c in suite if c.name == "Probe 101").result
    assert failure.message == "4 failed test cases of 100"
    assert "findings not known: --no-findings" in (failure.text or "")
