"""Reads in parallel, the way every reading command wants them: at most ``parallelism`` at
once, the first error stopping what has not started, and Ctrl-C dropping the reads not sent."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait


def run_all(jobs: Sequence[Callable[[], None]], parallelism: int) -> None:
    """Run ``jobs``, ``parallelism`` at a time. The first exception a job raises cancels the
    jobs not started and is raised here (a job catches what it can live with itself)."""
    if not jobs:
        return
    with ThreadPoolExecutor(max_workers=min(parallelism, len(jobs))) as pool:
        futures = [pool.submit(job) for job in jobs]
        try:
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        except BaseException:
            # Ctrl-C: drop the reads not started, or leaving the pool would send them all.
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        failed = next((f for f in done if f.exception() is not None), None)
        if failed is not None:
            for future in futures:
                future.cancel()
            error = failed.exception()
            assert error is not None
            raise error
