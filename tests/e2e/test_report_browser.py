"""The report opened in a real browser: Debian's headless Chromium, driven by Playwright.

Playwright's own browser download cannot work here (no network), so the test launches
``/usr/bin/chromium`` (or ``RECONCILER_CHROMIUM``) with the flags that keep Chromium's own
background connections quiet. It checks the DOM (every run, the failing one marked, links,
sorting by a header click, the filter), that nothing was logged to the console and no request
left the page, and that a phone-width screen scrolls only inside the table and map. The
screenshots are kept for CI in ``.ci/artifacts/`` (git-ignored).

In CI (``CI=true``) a missing Chromium or Playwright fails the test instead of skipping it:
``.ci/run`` installs Chromium (``scripts/browser-test-deps``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.simulator.server import SimulatorServer
from tests.e2e.conftest import API_KEY, Cli, Runner
from tests.e2e.test_report import NASTY_NAME, NASTY_PROBE, ODD_KEY, applied, sim

__all__ = ["sim"]  # the module's simulator fixture: runs that end, fail and never end

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / ".ci" / "artifacts"
CHROMIUM = os.environ.get("RECONCILER_CHROMIUM", "/usr/bin/chromium")
#: Chromium's background services (updates, sync, safe browsing...) would try the network,
#: which is closed here; with these it makes no connection of its own.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason}; in CI the browser test must run (.ci/run installs Chromium)")
    pytest.skip(f"{reason} (install it with `apt-get install -y chromium` to run this test)")


@pytest.fixture
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[dev]')")
    if not (shutil.which(CHROMIUM) or Path(CHROMIUM).is_file()):
        _unavailable(f"no Chromium at {CHROMIUM}")
    with sync_playwright() as playwright:
        # launch() gives every run a fresh temporary profile: nothing cached, nothing synced.
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=list(CHROMIUM_ARGS), headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


class Watch:
    """What a page did besides rendering: console errors and requests."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on(
            "console",
            lambda message: self.errors.append(message.text) if message.type == "error" else None,
        )
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("request", lambda request: self.requests.append(request.url))

    def outside(self, page_url: str) -> list[str]:
        return [url for url in self.requests if url != page_url]


def test_the_report_renders_sorts_and_filters_in_chromium(
    cli: Cli, run: Runner, sim: SimulatorServer, browser: Any
) -> None:
    ids = applied(cli, run)
    out = cli.root / "report.html"
    result = run("report", "--out", str(out), "--pdf", str(cli.root / "pdfs"))
    assert result.code == 0, result.all
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    watch = Watch(page)
    url = out.as_uri()

    page.goto(url)
    page.wait_for_selector("#runs tbody tr")

    keys = page.eval_on_selector_all("#runs tbody tr", "rows => rows.map(r => r.dataset.key)")
    assert sorted(keys) == sorted(ids)
    assert keys[0] == "broken-run"  # failing first
    failing = page.locator("#runs tbody tr.failed")
    assert failing.count() == 1
    assert failing.get_attribute("data-key") == "broken-run"
    assert "failed" in failing.locator(".badge").inner_text()
    # Escaped in the file, shown intact by the browser, and never run as markup.
    assert NASTY_NAME in page.inner_text("#runs")
    assert NASTY_PROBE in page.text_content("#heatmap")
    assert page.evaluate("typeof alert") == "function" and page.locator("script").count() == 1
    for key, test_run_id in ids.items():
        row = page.locator(f'#runs tbody tr[data-test-run="{test_run_id}"]')
        href = row.locator("a.run-link").get_attribute("href")
        assert href.endswith(f"/test-runs/{test_run_id}") and href.startswith("https://"), key
    cells = page.locator("#heatmap a")
    assert cells.count() == 4  # (42,101) (42,102) (43,101) (43,102): latest ended runs only
    assert page.locator("#heatmap a title").first.text_content().startswith("target ")
    pdf_links = page.eval_on_selector_all("a.pdf-link", "links => links.map(a => a.href)")
    assert len(pdf_links) == 3 and all(link.startswith("file://") for link in pdf_links)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)

    # Sorting: Failed, ascending then descending; the header says so in aria-sort.
    failed_header = page.locator("#runs thead th", has_text="Failed")
    failed_header.locator("button").click()
    assert failed_header.get_attribute("aria-sort") == "ascending"
    assert page.locator("#runs thead th[aria-sort=ascending]").count() == 1
    # Counts sort by their text (a "–" by its data-sort, -1).
    column = page.eval_on_selector_all(
        "#runs tbody tr",
        "rows => rows.map(r => Number(r.cells[4].dataset.sort ?? r.cells[4].textContent))",
    )
    assert column == sorted(column) and column[-1] == 3
    failed_header.locator("button").click()
    assert failed_header.get_attribute("aria-sort") == "descending"
    first = page.eval_on_selector("#runs tbody tr", "r => r.dataset.key")
    assert first == ODD_KEY  # 3 failed test cases, the most
    page.locator("#runs thead th", has_text="Key").locator("button").click()
    keys = page.eval_on_selector_all("#runs tbody tr", "rows => rows.map(r => r.dataset.key)")
    assert keys == sorted(keys, key=str.lower)

    # The filter hides what does not match and says so when nothing does.
    page.fill("#filter", "slow")
    visible = page.eval_on_selector_all(
        "#runs tbody tr", "rows => rows.filter(r => !r.hidden).map(r => r.dataset.key)"
    )
    assert visible == ["slow-run"]
    assert page.locator("#no-rows").is_hidden()
    page.fill("#filter", "no such run anywhere")
    assert page.locator("#no-rows").is_visible()

    assert watch.errors == []
    assert watch.outside(url) == []
    page.close()


def test_the_report_fits_a_phone_and_reads_without_javascript(
    cli: Cli, run: Runner, sim: SimulatorServer, browser: Any
) -> None:
    applied(cli, run)
    out = cli.root / "report.html"
    assert run("report", "--out", str(out)).code == 0
    assert API_KEY not in out.read_text(encoding="utf-8")

    phone = browser.new_page(viewport={"width": 375, "height": 740})
    watch = Watch(phone)
    phone.goto(out.as_uri())
    # Only the table and the map scroll sideways, never the page itself.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    phone.screenshot(path=str(ARTIFACTS / "report-phone.png"), full_page=True)
    assert watch.errors == [] and watch.outside(out.as_uri()) == []
    phone.close()

    # With scripts off every number and verdict is still on the page.
    page = browser.new_page(java_script_enabled=False)
    page.goto(out.as_uri())
    text = page.inner_text("#runs")
    assert "ended in Error" in text and "3" in text
    assert page.locator("#filter-box").is_hidden()  # no dead filter box without a script
    page.close()


def test_in_ci_a_missing_browser_fails_the_test_instead_of_skipping_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="in CI the browser test must run"):
        _unavailable("no Chromium at /nowhere")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y chromium"):
        _unavailable("no Chromium at /nowhere")


def test_findings_content_stays_inert_under_the_pages_policy(browser: Any, tmp_path: Path) -> None:
    """A prompt that is itself a script and an image with an error handler, shown with content
    included: text on the page, no dialog, no element added."""
    from reconciler.results.views.html import render_report
    from tests.results.findings_rows import IMG, MARKER, SCRIPT, findings_set

    out = tmp_path / "report.html"
    out.write_text(render_report(findings_set(), include_content=True), encoding="utf-8")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    watch = Watch(page)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(out.as_uri())
    elements = page.evaluate("document.getElementsByTagName('*').length")
    page.eval_on_selector_all("details.drill", "all => all.forEach(d => { d.open = true; })")
    page.wait_for_timeout(300)  # time for an onerror handler to have fired, had one been made

    drill = page.locator("#f2001")
    assert drill.is_visible()
    text = drill.inner_text()
    assert SCRIPT in text and IMG in text and MARKER in text
    assert page.locator("script").count() == 1 and page.locator("img").count() == 0
    assert page.evaluate("document.getElementsByTagName('*').length") == elements
    assert dialogs == []
    # One heading a probe, linking to its probe run; within it new, then known, then fixed.
    links = page.eval_on_selector_all("#f2001 tbody th a", "links => links.map(a => a.href)")
    assert len(links) == 2
    assert all("/probe/" in link and link.endswith("?tab=results") for link in links)
    states = page.eval_on_selector_all(
        "#f2001 table.findings tbody:has(th[colspan])",
        "groups => groups.map(g => Array.from(g.rows).slice(1)"
        ".filter(r => !r.classList.contains('content')).map(r => r.cells[0].textContent))",
    )
    assert states == [["new", "new", "new", "known", "fixed"], ["new", "known"]]
    assert "run 1001" in page.inner_text("#f2001 .fixed-in")  # where the fixed one was seen
    # The trend: an SVG of two lines and its numbers as text.
    assert page.locator("#f2001 .trend polyline").count() == 2
    assert "1001" in page.inner_text("#f2001 .trend table")
    # The runs table links to the drill-down; following it works without a script.
    page.click('#runs a.drill-link[href="#f2001"]')
    assert page.evaluate("location.hash") == "#f2001"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-findings.png"), full_page=True)
    assert watch.errors == [] and watch.outside(out.as_uri()) == []
    page.close()
