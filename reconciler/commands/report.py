"""``report``: one self-contained HTML page of the latest results, as a function returning an
exit code.

It reads status the way ``status`` does (only runs not known to have ended, recording the
newly ended ones when the lock is free); ``--refresh=false`` renders from state alone, offline,
with no key. ``--pdf DIR`` also downloads the platform's PDF report of each ended run; a PDF
that cannot be had is a warning and a note on the page, never a failed report.

Exit codes: 0 when the page was written (whatever the gates say: ``status`` and ``wait`` are
the commands that gate a pipeline), 1 on error.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler import logs
from reconciler.commands.common import Session, gates_of, load_desired, report_store_notes
from reconciler.commands.reading import (
    NO_KEY,
    FindingsWanted,
    read_and_record,
    read_statuses,
    select_tracked,
    unknown_outcomes,
)
from reconciler.defaults import API_KEY_ENV, DEFAULT_PARALLELISM
from reconciler.errors import ApiError, UsageError

if TYPE_CHECKING:
    from reconciler.api.client import ProbeClient
    from reconciler.results.summary import ResultRow, ResultSet
    from reconciler.results.views.html import Pdf

log = logs.Log("reconciler.cli")

EXIT_OK = 0
#: Warnings about single PDFs printed before the rest are counted in one line.
_PDF_WARNINGS_SHOWN = 5
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SLUG_LENGTH = 60


@dataclass(frozen=True)
class ReportOptions:
    """What ``report`` shows and where it writes it."""

    out: str
    paths: Sequence[str] = ()
    targets: Sequence[str] = ()
    refresh: bool = True
    pdf_dir: str | None = None
    parallelism: int = DEFAULT_PARALLELISM
    #: ``--include-content``: each finding's messages, escaped, read again (never recorded).
    include_content: bool = False
    content_limit: int = 500


def report(session: Session, options: ReportOptions) -> int:
    from reconciler.reading.refresh import unread
    from reconciler.results.summary import build_results
    from reconciler.results.views.html import PageContext, render_report
    from reconciler.state.model import utc_now

    if options.parallelism < 1:
        raise UsageError(f"--parallelism must be at least 1, got {options.parallelism}")
    out = _output_path(options.out)
    pdf_dir = _pdf_directory(options.pdf_dir) if options.pdf_dir is not None else None
    # Specs give the gates only; without any, every run gets the default gate.
    desired = load_desired(options.paths, session.settings, missing_ok=True)
    store = session.store()
    state = store.read()
    report_store_notes(session, store)
    runs, unknown = select_tracked(state, options.targets)
    notes = [note for note in (unknown_outcomes(unknown),) if note]
    if options.refresh:
        refreshed = read_statuses(session, runs, options.parallelism)
    else:
        refreshed = unread(runs, "not read (--refresh=false)")
    for observation in refreshed.unreadable:
        if observation.error != NO_KEY:
            session.console.warn(f"{observation.key}: {observation.error}")
    unread_count = sum(1 for o in refreshed.unreadable if o.error == NO_KEY)
    if unread_count:
        session.console.warn(
            f"{API_KEY_ENV} is not set: {unread_count} run{'s' if unread_count != 1 else ''} "
            "not ended could not be read and show as not read (ended ones are shown from state)."
        )
    # Offline (--refresh=false), the findings recorded in state are all there is.
    wanted = FindingsWanted(enabled=options.refresh, again=options.include_content)
    findings, recording = read_and_record(
        session,
        store,
        refreshed,
        desired,
        parallelism=options.parallelism,
        wanted=wanted,
        operation="report",
    )
    notes += [recording] if recording else []
    gates = gates_of(session.settings, desired, runs)
    results = build_results(
        refreshed, gates, platform=session.platform_url(), read_at=utc_now(), findings=findings
    )
    pdfs: dict[str, Pdf] = {}
    if pdf_dir is not None:
        pdfs, pdf_notes = _download_pdfs(session, results, pdf_dir, out.parent, options)
        notes += pdf_notes
    context = PageContext(refreshed=options.refresh, notes=tuple(notes), pdfs=pdfs)
    # The page is made from data that never holds the key; redacting it anyway costs little.
    page = render_report(
        results,
        context,
        include_content=options.include_content,
        content_limit=options.content_limit,
    )
    page = session.redact(page)
    _write(out, page)
    session.console.out(
        f"Wrote the report of {len(results.rows)} run{'s' if len(results.rows) != 1 else ''} "
        f"({len(results.failed)} failed, {len(results.passed)} passed, "
        f"{len(results.pending)} not ended) to {out}"
    )
    return EXIT_OK


def _output_path(text: str) -> Path:
    """``--out FILE``, its directory created if missing; refused when it cannot be written."""
    path = Path(text).expanduser()
    if not text.strip() or path.is_dir():
        raise UsageError(
            f"--out {text}: give a file name to write the page to, such as report.html"
        )
    _make_directory(path.parent, f"--out {text}")
    return path


def _pdf_directory(text: str) -> Path:
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise UsageError(f"--pdf {text}: that is a file; give a directory for the PDF reports")
    _make_directory(path, f"--pdf {text}")
    return path


def _make_directory(directory: Path, option: str) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"{option}: cannot create the directory {directory} ({exc.strerror or exc}); "
            "give a path in a directory you can write to"
        ) from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UsageError(
            f"{option}: the directory {directory} is not writable; give a path in a directory "
            "you can write to"
        )


def _write(out: Path, page: str) -> None:
    from reconciler.files import atomic_write

    try:
        atomic_write(out, page.encode("utf-8"))
    except OSError as exc:
        raise UsageError(
            f"--out {out}: cannot write the report ({exc.strerror or exc}); nothing was written"
        ) from None


def pdf_name(key: str, test_run_id: int) -> str:
    """A file name for a run's PDF that is safe on every file system and unique per key and
    run: ``<key>-<id>.pdf`` when the key is plain, else the key's safe characters plus a short
    hash of the whole key (``a_b-c_d-1f2e3d4c-1007.pdf``), so ``a/b`` and ``a=b`` never meet."""
    slug = _UNSAFE.sub("_", key).strip("._")[:_SLUG_LENGTH] or "run"
    if slug != key:
        slug += "-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:8]
    return f"{slug}-{test_run_id}.pdf"


def _download_pdfs(
    session: Session,
    results: ResultSet,
    directory: Path,
    page_dir: Path,
    options: ReportOptions,
) -> tuple[dict[str, Pdf], list[str]]:
    """Each ended run's PDF in ``directory`` (kept when already there: an ended run's report
    never changes), linked relative to the page. Failures become notes, never errors."""
    from reconciler.results.views.html import Pdf

    ended = [row for row in results.rows if row.ended]
    pdfs: dict[str, Pdf] = {}
    for row in results.rows:
        if not row.ended:
            pdfs[row.key] = Pdf(note="no PDF until the run has ended")
    if not ended:
        return pdfs, []
    wanted = [row for row in ended if not _have_pdf(directory / pdf_name(row.key, row.test_run_id))]
    failures: dict[str, str] = {}
    if wanted and session.settings.api_key is None:
        reason = f"{API_KEY_ENV} is not set"
        failures = {row.key: reason for row in wanted}
    elif wanted:
        session.check_api_settings()
        client = session.client(parallelism=options.parallelism)
        try:
            failures = _fetch_all(client, wanted, directory, options.parallelism)
        finally:
            client.close()
    for row in ended:
        target = directory / pdf_name(row.key, row.test_run_id)
        if row.key in failures:
            pdfs[row.key] = Pdf(note=f"PDF not downloaded: {failures[row.key]}")
        else:
            pdfs[row.key] = Pdf(href=_relative_href(target, page_dir))
    notes = []
    if failures:
        for key, reason in list(failures.items())[:_PDF_WARNINGS_SHOWN]:
            session.console.warn(f"{key}: the PDF report was not downloaded: {reason}")
        rest = len(failures) - _PDF_WARNINGS_SHOWN
        if rest > 0:
            session.console.warn(f"... and {rest} more PDF report(s) were not downloaded")
        notes.append(
            f"{len(failures)} of {len(ended)} PDF report{'s' if len(ended) != 1 else ''} could "
            "not be downloaded; the reason is beside each run."
        )
    return pdfs, notes


def _fetch_all(
    client: ProbeClient, rows: list[ResultRow], directory: Path, parallelism: int
) -> dict[str, str]:
    """Download ``rows``' PDFs, ``parallelism`` at a time; the failures by key. A fatal error
    (401/403: every other download would fail alike) stops the rest with the same reason."""
    from reconciler.files import atomic_write

    failures: dict[str, str] = {}
    stop: list[str] = []
    lock = threading.Lock()

    def fetch(row: ResultRow) -> None:
        if stop:
            with lock:
                failures[row.key] = stop[0]
            return
        try:
            data = client.get_report(row.workspace_id, row.test_run_id, key=row.key)
            atomic_write(directory / pdf_name(row.key, row.test_run_id), data)
        except ApiError as exc:
            with lock:
                failures[row.key] = str(exc)
                if exc.fatal:
                    stop.append(str(exc))
        except OSError as exc:
            with lock:
                failures[row.key] = f"cannot write it in {directory} ({exc.strerror or exc})"

    with ThreadPoolExecutor(max_workers=min(parallelism, len(rows))) as pool:
        list(pool.map(fetch, rows))
    return dict(sorted(failures.items()))


def _have_pdf(path: Path) -> bool:
    from reconciler.api.client import PDF_MAGIC

    try:
        with path.open("rb") as handle:
            return handle.read(len(PDF_MAGIC)) == PDF_MAGIC
    except OSError:
        return False


def _relative_href(target: Path, page_dir: Path) -> str:
    """A link from the page to ``target`` that survives moving both together."""
    from urllib.parse import quote

    relative = os.path.relpath(target.resolve(), page_dir.resolve())
    return quote(Path(relative).as_posix())
