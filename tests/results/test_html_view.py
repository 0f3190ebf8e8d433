"""The HTML view as a pure function of a ResultSet: aggregation, colour, escaping, the CSP.

The page in a real browser is tests/e2e/test_report_browser.py; the command is
tests/e2e/test_report.py.
"""

from __future__ import annotations

import base64
import hashlib
import html
import html.parser
import re

import pytest

from reconciler.commands.report import pdf_name
from reconciler.results.gate import Gate
from reconciler.results.model import Counts, ProbeRunResult, RunResult
from reconciler.results.observation import Observation, Refresh
from reconciler.results.summary import ResultSet, build_results
from reconciler.results.views.html import (
    RAMP,
    PageContext,
    Pdf,
    colour,
    heat_map,
    ink_for,
    percent,
    render_report,
)
from reconciler.state.model import TrackedRun
from tests.factories import attrs, result_of, tracked

NASTY = "<img src=x onerror=alert(1)> & \"q\" 'a' 😀"


def result_set(*entries: tuple[str, TrackedRun, RunResult | None]) -> ResultSet:
    observations = {
        key: Observation(key, run, result, "api" if result else "none")
        for key, run, result in entries
    }
    return build_results(
        Refresh(observations),
        {key: Gate(max_failed=0) for key, _, _ in entries},
        platform="https://probe.splx.ai",
        read_at="2026-12-02T14:00:00Z",
    )


def probe_result(run_id: int, when: str, **failed_by_probe: int) -> RunResult:
    return RunResult(
        test_run_id=run_id,
        status="Finished",
        execution_date=when,
        probe_runs=tuple(
            ProbeRunResult(
                probe_name=name,
                probe_id=int(name[1:]),
                status="Finished",
                counts=Counts(total=10, passed=10 - failed, failed=failed),
            )
            for name, failed in failed_by_probe.items()
        ),
        seen_at="2026-12-02T14:00:00Z",
    )


class Text(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def read(page: str) -> Text:
    parsed = Text()
    parsed.feed(page)
    return parsed


def test_one_cell_per_target_and_probe_the_worst_of_the_keys_that_cover_it() -> None:
    older = tracked(attrs(target_id=7), 100)
    newer = tracked(attrs(target_id=7), 200)
    other = tracked(attrs(target_id=8), 300)
    running = tracked(attrs(target_id=7), 400)
    results = result_set(
        ("a-old", older, probe_result(100, "2026-12-01T10:00:00Z", p1=5, p2=1)),
        ("b-new", newer, probe_result(200, "2026-12-02T10:00:00Z", p1=2)),
        ("c-other", other, probe_result(300, "2026-12-02T09:00:00Z", p2=10)),
        ("d-running", running, result_of(400, status="Running", failed=9, probes=(1,))),
    )

    heat = heat_map(results)

    assert [t.label for t in heat.targets] == ["target 7", "target 8"]
    assert [p.label for p in heat.probes] == ["p1", "p2"]
    cells = {(c.x, c.y): c for c in heat.cells}
    assert len(cells) == 3  # (7,p1) from both keys, (7,p2) from a-old, (8,p2) from c-other
    by_keys = {c.keys: c for c in heat.cells}
    assert set(by_keys) == {("a-old", "b-new"), ("a-old",), ("c-other",)}
    both = by_keys["a-old", "b-new"]  # worst first: a-old's 50% over b-new's newer 20%
    assert both.text == "50%" and both.url.endswith("/test-runs/100")
    assert both.title.splitlines() == [
        "target 7 × p1: 50% failed",
        "a-old: 5 of 10 failed, run 100",
        "+1 more key: 20%",
    ]
    assert by_keys["a-old",].title.splitlines()[0] == "target 7 × p2: 10% failed"
    assert not any("run 400" in c.title for c in heat.cells)  # still running: not on the map
    assert {c.text for c in heat.cells} == {"50%", "10%", "100%"}
    assert len(heat.empty) == 1  # target 8 never ran p1
    assert all(c.url.startswith("https://probe.splx.ai/w/1234/target/") for c in heat.cells)


def test_a_keys_latest_ended_result_counts_while_its_next_run_is_going() -> None:
    ended = probe_result(100, "2026-12-01T10:00:00Z", p1=4)
    going = tracked(attrs(target_id=7), 101).model_copy(update={"history": (ended,)})
    results = result_set(("nightly", going, result_of(101, status="Running", probes=(1,))))

    (cell,) = heat_map(results).cells

    assert (cell.text, cell.keys) == ("40%", ("nightly",))
    assert cell.url == "https://probe.splx.ai/w/1234/target/7/test-runs/100"
    assert cell.title.splitlines()[1] == ("nightly: 4 of 10 failed, run 100 (now run 101, Running)")
    page = read(render_report(results))
    assert "target 7 × p1: 40% failed" in "".join(page.parts)


def test_a_newer_passing_run_of_one_key_does_not_hide_another_keys_failures() -> None:
    # Two keys test target 42 with probe 1; the clean one ran last.
    nightly = probe_result(11, "2026-12-01T00:00:00Z", p1=3)
    smoke = probe_result(12, "2026-12-02T00:00:00Z", p1=0)
    results = result_set(
        ("nightly", tracked(attrs(target_id=42), 11), nightly),
        ("smoke", tracked(attrs(target_id=42), 12), smoke),
    )

    (cell,) = heat_map(results).cells

    assert (cell.text, cell.fill) == ("30%", colour(0.3))
    assert cell.keys == ("nightly", "smoke")
    assert cell.url.endswith("/test-runs/11")
    assert "nightly: 3 of 10 failed, run 11\n+1 more key: 0%" in cell.title
    page = read(render_report(results))
    assert "target 42 × p1: 30% failed\nnightly: " in "".join(page.parts)


def test_keys_tied_on_the_rate_rank_by_failures_then_by_having_cases_then_newest() -> None:
    def one_probe(run_id: int, when: str, failed: int, total: int) -> RunResult:
        counts = Counts(total=total, passed=total - failed, failed=failed)
        probe = ProbeRunResult(probe_name="p1", probe_id=1, status="Finished", counts=counts)
        return RunResult(
            test_run_id=run_id,
            status="Finished",
            execution_date=when,
            probe_runs=(probe,),
            seen_at="2026-12-02T14:00:00Z",
        )

    def keys_of(*runs: tuple[str, int, str, int, int]) -> tuple[str, ...]:
        entries = [
            (key, tracked(attrs(target_id=1), run_id), one_probe(run_id, when, failed, total))
            for key, run_id, when, failed, total in runs
        ]
        (cell,) = heat_map(result_set(*entries)).cells
        return cell.keys

    # 10% each: 2 of 20 is worse than 1 of 10, whichever is newer.
    assert keys_of(("a", 1, "2026-12-02", 1, 10), ("b", 2, "2026-12-01", 2, 20)) == ("b", "a")
    # 0% each: a run with test cases says more than one without any (shown as "–").
    assert keys_of(("a", 1, "2026-12-02", 0, 0), ("b", 2, "2026-12-01", 0, 5)) == ("b", "a")
    # Equal in everything: the newer first.
    assert keys_of(("a", 1, "2026-12-01", 0, 5), ("b", 2, "2026-12-02", 0, 5)) == ("b", "a")


def test_a_key_line_says_errored_cases_and_an_end_other_than_finished_only_when_there() -> None:
    errored = RunResult(
        test_run_id=5,
        status="Error",
        probe_runs=(
            ProbeRunResult(
                probe_name="p1",
                probe_id=1,
                status="Error",
                counts=Counts(total=20, passed=16, failed=3, errored=1),
            ),
        ),
        seen_at="2026-12-02T14:00:00Z",
    )
    empty = probe_result(6, "2026-12-02T00:00:00Z").model_copy(
        update={
            "probe_runs": (
                ProbeRunResult(probe_name="p1", probe_id=1, status="Finished", counts=Counts()),
            )
        }
    )
    results = result_set(
        ("broke", tracked(attrs(target_id=1), 5), errored),
        ("idle", tracked(attrs(target_id=1), 6), empty),
    )
    (cell,) = heat_map(results).cells
    assert cell.title.splitlines()[1:] == [
        "broke: 3 of 20 failed, 1 errored, run 5, Error",
        "+1 more key: –",  # no test cases: no rate
    ]
    (alone,) = heat_map(result_set(("idle", tracked(attrs(target_id=1), 6), empty))).cells
    assert alone.title.splitlines()[1:] == ["idle: no test cases, run 6"]


def test_a_cell_shared_by_many_keys_names_the_worst_and_counts_the_others() -> None:
    entries = [
        (f"k{n}", tracked(attrs(target_id=1), n), probe_result(n, "2026-12-01", p1=n))
        for n in range(1, 9)
    ]
    (cell,) = heat_map(result_set(*entries)).cells
    assert cell.title.splitlines() == [
        "target 1 × p1: 80% failed",
        "k8: 8 of 10 failed, run 8",
        "+7 more keys: 70%, 60%, 50%, 40%, 30%, …",
    ]
    assert cell.keys == tuple(f"k{n}" for n in range(8, 0, -1))  # every key, worst first


def test_the_ramp_gets_darker_with_the_failure_rate_and_text_stays_readable() -> None:
    def luminance(fill: str) -> float:
        red, green, blue = (int(fill[i : i + 2], 16) for i in (1, 3, 5))
        return 0.2126 * red + 0.7152 * green + 0.0722 * blue

    rates = [i / 50 for i in range(51)]
    shades = [luminance(colour(rate)) for rate in rates]
    assert shades == sorted(shades, reverse=True)  # lightness alone orders it
    assert colour(0) == RAMP[0] and colour(1) == RAMP[-1]
    assert colour(0.02) != colour(0)  # a small rate is visibly not zero
    assert ink_for(RAMP[0]) == "#000000" and ink_for(RAMP[-1]) == "#ffffff"


@pytest.mark.parametrize(
    ("rate", "text"),
    [(0, "0%"), (0.001, "<1%"), (0.25, "25%"), (0.996, ">99%"), (1, "100%")],
)
def test_percent_never_rounds_to_a_misleading_figure(rate: float, text: str) -> None:
    assert percent(rate) == text


def test_keys_names_and_probe_names_are_escaped_and_shown_intact() -> None:
    run = tracked(attrs(name=NASTY, target_id=42), 77)
    result = RunResult(
        test_run_id=77,
        status="Finished",
        probe_runs=(
            ProbeRunResult(
                probe_name=NASTY,
                probe_id=1,
                status="Finished",
                counts=Counts(total=4, failed=1, passed=3),
            ),
        ),
        seen_at="2026-12-02T14:00:00Z",
    )
    key = "key<&>\"'😀"
    page = render_report(result_set((key, run, result)), PageContext(pdfs={key: Pdf(note=NASTY)}))

    assert "<img" not in page and "onerror=alert(1)>" not in page
    parsed = read(page)
    text = "".join(parsed.parts)
    assert text.count(NASTY) >= 3  # the name, the probe label and its title, the PDF note
    assert key in text
    assert "img" not in parsed.tags


def test_the_table_is_failing_first_and_every_number_is_in_the_html() -> None:
    results = result_set(
        ("a-pass", tracked(attrs(), 1), result_of(1, failed=0)),
        ("b-fail", tracked(attrs(), 2), result_of(2, failed=3, errored=1)),
        ("c-going", tracked(attrs(), 3), result_of(3, status="Running")),
    )
    page = render_report(results)
    keys = re.findall(r'<tr class=\w+ data-outcome=(\w+) data-key="([^"]+)"', page)
    assert keys == [("failed", "b-fail"), ("pending", "c-going"), ("passed", "a-pass")]
    assert "<td class=bad>3\n" in page  # sorted by its text: no data-sort to repeat it
    assert "<td data-sort=-1>–" in page  # the run not ended: no counts, sorted first
    assert "3 failed test cases, at most 0 allowed" in page
    assert 'aria-sort="ascending"' in page  # the gate column: the default order


def test_previous_result_and_pdf_links_are_shown() -> None:
    previous = result_of(10, failed=2)
    run = tracked(attrs(), 11).model_copy(update={"history": (previous,)})
    results = result_set(("k", run, result_of(11, failed=0)))
    page = render_report(results, PageContext(pdfs={"k": Pdf(href="pdfs/k-11.pdf")}))
    assert "2 failed of 10, Finished, run 10" in page
    assert '<a class=pdf-link href="pdfs/k-11.pdf">PDF</a>' in page


def test_no_runs_says_so_instead_of_an_empty_table() -> None:
    page = render_report(ResultSet(rows=(), read_at="2026-12-02T14:00:00Z"))
    assert "No results yet" in page and "<table" not in page


def test_runs_none_ended_say_the_map_is_empty() -> None:
    results = result_set(("k", tracked(attrs(), 1), result_of(1, status="Pending")))
    page = render_report(results)
    assert "No run has ended yet" in page and 'id="heatmap"' not in page
    assert 'data-key="k"' in page


def test_the_policy_allows_exactly_the_inline_style_and_script_and_no_fetch() -> None:
    page = render_report(result_set(("k", tracked(attrs(), 1), result_of(1))))
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert policy is not None
    allowed = html.unescape(policy.group(1))
    style = re.search(r"<style>(.*?)</style>", page, re.S)
    script = re.search(r"<script>(.*?)</script>", page, re.S)
    assert style is not None and script is not None
    for block, directive in ((style, "style-src"), (script, "script-src")):
        digest = base64.b64encode(hashlib.sha256(block.group(1).encode()).digest()).decode()
        assert f"{directive} 'sha256-{digest}'" in allowed
    assert "default-src 'none'" in allowed
    assert not re.search(r"""(src|href)=["'](https?:)?//(?!probe\.splx\.ai/)""", page)


@pytest.mark.parametrize(
    "key", ["plain-key", "web[prod]=a/b", "a/b", "a=b", "../../etc/passwd", "ünï", "x" * 300]
)
def test_pdf_names_are_safe_file_names(key: str) -> None:
    name = pdf_name(key, 1007)
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*-1007\.pdf", name)
    assert len(name) < 100 and "/" not in name and ".." not in name


def test_pdf_names_differ_for_keys_that_clean_up_alike() -> None:
    names = {pdf_name(key, 5) for key in ("a/b", "a=b", "a[b", "a_b", "a b")}
    assert len(names) == 5
    assert pdf_name("plain-key", 5) == "plain-key-5.pdf"


def test_findings_drill_down_one_heading_per_probe_new_then_known_then_fixed() -> None:
    from tests.results.findings_rows import MARKER, findings_set

    page = render_report(findings_set())
    assert MARKER not in page  # content read now, not asked for
    drill = page[page.index("<details class=drill id=f2001>") : page.index("</details>")]
    assert "6 failed (4 new, 2 known; 1 fixed)" in drill
    # One heading per probe, each linking to this run's probe run of it.
    headings = re.findall(r'<tbody><tr><th colspan=5><a href="([^"]+)">([^<]+)</a>', drill)
    assert headings == [
        (
            "https://probe.splx.ai/w/1234/target/42/test-runs/2001/probe/20010?tab=results",
            "Probe 101",
        ),
        (
            "https://probe.splx.ai/w/1234/target/42/test-runs/2001/probe/20011?tab=results",
            "Probe 102",
        ),
    ]
    # Within a probe, new first, then known, then fixed; the state is the row's first cell.
    rows = re.findall(r"<tr><td>(<b>new</b>|known|fixed)<td>([^<]{1,3})<td>", drill)
    assert rows == [
        ("<b>new</b>", "N00"),
        ("<b>new</b>", "N01"),
        ("<b>new</b>", "N02"),
        ("known", "K1"),
        ("fixed", "F1"),
        ("known", "K2"),
    ]
    assert drill.count("<a href=") == 3  # two probes and the previous run: no link a finding
    # Fixed ones were seen in the previous run: linked once.
    assert '<a href="https://probe.splx.ai/w/1234/target/42/test-runs/1001">run 1001</a>' in drill
    # The hostile attack name is text, its control character dropped (no box glyph).
    assert "&lt;b&gt;bold&lt;/b&gt;" in drill and "<b>bold" not in drill
    assert "line2<td>" in drill and "\x07" not in page
    assert 'href="#f2001"' in page and "id=f2002" not in page  # a clean run has none


def test_a_probe_with_only_fixed_findings_links_where_they_were_seen() -> None:
    from tests.results.findings_rows import attacks, run_with

    # Both runs ran probes 101 and 102; F1 on 101 is gone this time, K2 on 102 is still there.
    older = run_with(1001, [*attacks(101, "F1"), *attacks(102, "K2")])
    current = run_with(2001, attacks(102, "K2"))
    run = tracked(attrs(target_id=42), 2001).model_copy(update={"history": (older,)})
    page = render_report(result_set(("k", run, current)))
    drill = page[page.index("<details class=drill id=f2001>") : page.index("</details>")]
    headings = re.findall(r'<tbody><tr><th colspan=5><a href="([^"]+)">([^<]+)</a>', drill)
    assert [name for _, name in headings] == ["Probe 102", "Probe 101"]  # findings of now first
    assert headings[0][0].endswith("/test-runs/2001/probe/20011?tab=results")
    assert headings[1][0].endswith("/test-runs/1001/probe/10010?tab=results")
    assert re.findall(r"<tr><td>(\w+)<td>(\w+)<td>", drill) == [("known", "K2"), ("fixed", "F1")]
    assert ">run 1001</a>" in drill


def test_control_characters_from_the_api_and_specs_are_not_drawn() -> None:
    probe = ProbeRunResult(
        probe_name="probe\x1b[31m red\x00\u202eevil",
        probe_id=1,
        status="Finished",
        counts=Counts(total=4, failed=1, passed=3),
    )
    result = RunResult(
        test_run_id=77, status="Finished", probe_runs=(probe,), seen_at="2026-12-02T14:00:00Z"
    )
    run = tracked(attrs(name="name\x07 with\tbell", target_id=42), 77)
    page = render_report(result_set(("key\x08", run, result)))
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e]", page)
    text = "".join(read(page).parts)
    assert "probe[31m redevil" in text and "name with\tbell" in text
    assert "<th scope=row>key<span class=name>" in page


def test_trend_draws_the_history_and_says_its_numbers() -> None:
    from tests.results.findings_rows import findings_set

    page = render_report(findings_set())
    start = page.index('<div class="trend">')
    trend = page[start : page.index("</div>", start)]
    assert trend.count("<polyline") == 2 and "<script" not in trend
    cells = re.findall(r"<td>([^<]+)", trend)
    assert cells == ["501", "1001", "2001", "1", "3", "6", "1", "2", "4"]


def test_content_is_escaped_preformatted_text_and_cut() -> None:
    from tests.results.findings_rows import IMG, MARKER, SCRIPT, findings_set

    page = render_report(findings_set(), include_content=True, content_limit=100)
    assert MARKER in page
    assert SCRIPT not in page and IMG not in page
    assert html.escape(SCRIPT, quote=False) in page
    assert "[cut: 1900 more characters]" in page and "x" * 101 not in page
    # The policy is the same strict one, content or not.
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert csp is not None and csp.group(1).startswith("default-src &#39;none&#39;; ")
