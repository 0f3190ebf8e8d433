"""How fast the SARIF view writes 10,000 findings, and how big the file is.

    python bench/bench_sarif.py [--findings 10000] [--runs 100] [--repeat 5]

Builds ``--runs`` ended runs over 3 workspaces, their findings spread over 8 probes, a third of
them known from the key's previous run, then times ``render_sarif`` (the median of
``--repeat``) and reports the file's size raw and gzip-compressed (what GitHub's 10 MB upload
limit counts). Targets (docs/PERFORMANCE.md): within 1 s, under the limit. Exits 1 when missed.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reconciler.results.views.sarif import MAX_UPLOAD_BYTES, render_sarif  # noqa: E402
from tests.factories import finding  # noqa: E402
from tests.results.sarif_rows import Run, result_set  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    per_run = args.findings // args.runs
    runs = []
    for k in range(args.runs):
        records = [
            finding(101 + i % 8, f"ATTACK-{k}-{i}", red_teamer=f"red teamer {i % 5}")
            for i in range(per_run)
        ]
        runs.append(
            Run(
                f"team-{k % 10}/bot-{k}",
                10_000 + k * 10,
                records,
                previous=records[::3],
                workspace_id=1000 + k % 3,
                spec=(f"specs/team-{k % 10}.yaml", 3 + 12 * (k // 10)),
                probes=tuple(range(101, 109)),
            )
        )
    results = result_set(*runs)
    times = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        document = render_sarif(results, repo_root=ROOT, tool_version="0.1.0")
        times.append(time.perf_counter() - started)
    raw = document.text.encode()
    packed = len(gzip.compress(raw, compresslevel=6))
    median = statistics.median(times)
    met = median < 1.0 and packed < MAX_UPLOAD_BYTES and document.left_out == 0
    print(f"findings {document.results:,} in {args.runs} runs, 3 workspaces")
    print(f"render_sarif: median {median:.3f} s, min {min(times):.3f} s of {args.repeat}")
    print(f"size: {len(raw) / 1e6:.2f} MB raw, {packed / 1e6:.2f} MB gzip (limit 10 MB)")
    print("target met" if met else "TARGET MISSED")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
