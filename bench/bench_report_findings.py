"""The report with findings: 1,000 runs holding 10,000 findings, its size and how fast Chromium
renders it.

    python bench/bench_report_findings.py [--runs 1000] [--findings-per-run 10] [--repeat 3]

The runs of ``bench_report.py`` (1,000 over 50 targets and 40 probes), each with 10 recorded
findings over its failing probe runs and a previous run with its own (7 of them shared: known,
3 new, 3 fixed); a tenth of the keys carry a full history of 5 earlier runs (a trend of six
points), the rest one. Then:

- ``render``: ``render_report`` alone, the median of ``--repeat``;
- the page's size (target: at most 3 MB);
- Chromium (``/usr/bin/chromium`` or ``RECONCILER_CHROMIUM``, headless, driven by Playwright):
  from navigation start to the load event, and to the first contentful paint, median of
  ``--repeat`` fresh pages (target: within 2 s).

Exits 1 when a target is missed; figures in docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_report import make_runs, result_set  # noqa: E402

from reconciler.results.findings import FindingRecord, fingerprint, record_findings  # noqa: E402
from reconciler.results.model import RunResult  # noqa: E402
from reconciler.results.views.html import render_report  # noqa: E402
from reconciler.state.model import TrackedRun  # noqa: E402

CHROMIUM = os.environ.get("RECONCILER_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
MAX_BYTES = 3_000_000
MAX_RENDER_S = 2.0


@dataclass(frozen=True)
class Figures:
    render_s: float
    size_bytes: int
    findings: int
    load_s: float | None
    paint_s: float | None

    @property
    def met(self) -> bool:
        browser_ok = self.load_s is None or self.load_s <= MAX_RENDER_S
        return self.size_bytes <= MAX_BYTES and browser_ok


def with_findings(result: RunResult, per_run: int, shift: int) -> RunResult:
    """``result`` with ``per_run`` findings over its failing probe runs; ``shift`` moves the
    window of attacks, so two runs of a key share ``per_run - shift`` of them."""
    failing = [p for p in result.probe_runs if p.counts.failed] or list(result.probe_runs)
    failing = failing[:3]
    records = []
    for k in range(per_run):
        probe_run = failing[k % len(failing)]
        attack = f"ATK-{probe_run.probe_id}-{k + shift}"
        records.append(
            FindingRecord(
                fingerprint=fingerprint(
                    probe_run.probe_id, attack, "base64", "multi-turn", "red-teamer-a"
                ),
                probe_id=probe_run.probe_id,
                probe_run_id=probe_run.probe_run_id,
                attack=attack,
                variation="base64",
                strategy="multi-turn",
                red_teamer="red-teamer-a",
            )
        )
    return result.model_copy(update={"findings": record_findings(records, result.seen_at)})


def make_findings_runs(runs: int, per_run: int) -> dict[str, TrackedRun]:
    tracked = make_runs(runs, 50, 40)
    out = {}
    for i, (key, run) in enumerate(tracked.items()):
        assert run.result is not None and run.test_run_id is not None
        current = with_findings(run.result.model_copy(update={"status": "Finished"}), per_run, 3)
        earlier = 5 if i % 10 == 0 else 1
        history = tuple(
            with_findings(
                current.model_copy(update={"test_run_id": run.test_run_id + 100_000 * (n + 1)}),
                per_run,
                n,
            )
            for n in reversed(range(earlier))
        )
        out[key] = run.model_copy(update={"result": current, "history": history})
    return out


def browser_times(page_path: Path, repeat: int) -> tuple[float, float] | None:
    """Median seconds to the load event and to the first contentful paint; None without a
    browser."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not Path(CHROMIUM).is_file():
        return None
    loads, paints = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            for _ in range(repeat):
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(page_path.as_uri(), wait_until="load", timeout=60_000)
                load = page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
                paint = page.evaluate(
                    "(performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime"
                    " || 0"
                )
                loads.append(load / 1000)
                paints.append(paint / 1000)
                page.close()
        finally:
            browser.close()
    return statistics.median(loads), statistics.median(paints)


def measure(runs: int, per_run: int, repeat: int) -> Figures:
    results = result_set(make_findings_runs(runs, per_run))
    findings = sum(r.findings.diff.total for r in results.rows if r.findings and r.findings.diff)
    render_report(results)  # the first render also compiles the template
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        page = render_report(results)
        times.append(time.perf_counter() - started)
    with tempfile.TemporaryDirectory(prefix="reconciler-bench-findings-") as name:
        path = Path(name) / "report.html"
        path.write_text(page, encoding="utf-8")
        browser = browser_times(path, repeat)
    return Figures(
        render_s=statistics.median(times),
        size_bytes=len(page.encode("utf-8")),
        findings=findings,
        load_s=browser[0] if browser else None,
        paint_s=browser[1] if browser else None,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--findings-per-run", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    figures = measure(args.runs, args.findings_per_run, args.repeat)
    print(f"report of {args.runs} runs with {figures.findings} findings (new and known)")
    print(f"  render_report (median of {args.repeat}): {figures.render_s:.3f} s")
    print(f"  page size: {figures.size_bytes / 1e6:.2f} MB (target <= 3 MB)")
    if figures.load_s is None or figures.paint_s is None:
        print(f"  Chromium: not measured (no Playwright or no {CHROMIUM})")
    else:
        print(
            f"  Chromium, navigation start to load event (median of {args.repeat}): "
            f"{figures.load_s:.2f} s (target <= 2 s); first contentful paint "
            f"{figures.paint_s:.2f} s"
        )
    sys.exit(0 if figures.met else 1)


if __name__ == "__main__":
    main()
