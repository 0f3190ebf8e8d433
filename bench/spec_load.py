"""How long load_specs takes on a large spec tree (default: 10,000 runs in 100 files).

python bench/spec_load.py [RUNS_PER_FILE] [FILES]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from reconciler.spec import load_specs


def write_specs(root: Path, files: int, runs_per_file: int) -> None:
    for f in range(files):
        lines = ["workspaceId: 1234", "defaults:", "  notifyWhenFinished: true", "testRuns:"]
        for r in range(runs_per_file):
            lines += [
                f"  team-{f}/run-{r}:",
                f"    targetId: {r + 1}",
                f"    probeIds: [101, 102, {r + 200}]",
                f"    name: Nightly sweep {f}.{r}",
                "    runAiAnalysis: false",
            ]
        (root / f"team-{f:03}.yaml").write_text("\n".join(lines) + "\n")


def main() -> None:
    runs_per_file = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    files = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_specs(root, files, runs_per_file)
        timings = []
        for _ in range(5):
            start = time.perf_counter()
            desired = load_specs([root])
            timings.append(time.perf_counter() - start)
    print(
        f"{len(desired.runs)} runs in {len(desired.files)} files: "
        f"min {min(timings):.3f} s, median {statistics.median(timings):.3f} s"
    )


if __name__ == "__main__":
    main()
