"""``reconciler report`` against the simulator: the page, its refresh, --refresh=false offline,
--pdf, and the bad inputs (a missing or unusable output directory, unknown keys)."""

from __future__ import annotations

import html.parser
import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.simulator.config import KeyGrant, OutcomeRule, SimulatorConfig
from reconciler.simulator.server import SimulatorServer
from tests.e2e.conftest import API_KEY, Cli, Runner, api_requests

#: A name and a probe name with everything HTML must escape, and an emoji.
NASTY_NAME = "<script>alert('x')</script> & \"quotes\" 😀"
NASTY_PROBE = '<b>Jail&break</b> "DAN" 🚀'
#: Keys may hold [ ] = / , : (RUN_KEY_PATTERN); all of them meet file names and URLs here.
ODD_KEY = "web[prod]=a/b,c:d"

SPEC = f"""\
workspaceId: 1234
testRuns:
  "{ODD_KEY}":
    targetId: 42
    probeIds: [101, 102]
    name: {json.dumps(NASTY_NAME, ensure_ascii=False)}
  clean-run:
    targetId: 43
    probeIds: [101]
  broken-run:
    targetId: 43
    probeIds: [102]
  slow-run:
    targetId: 44
    probeIds: [101]
"""


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    """Runs end at once, except slow-run (never); broken-run ends in Error; the odd key's run
    fails 3 test cases of probe 101, whose name needs escaping."""
    config = SimulatorConfig(
        keys={API_KEY: KeyGrant(label="e2e")},
        start_after=0.0,
        probe_names={101: NASTY_PROBE},
        outcomes=(
            OutcomeRule(name="*", finish_after=0),
            OutcomeRule(name="<script>*", failed={101: 3}, finish_after=0),
            OutcomeRule(name="broken-run", status="Error", finish_after=0),
            OutcomeRule(name="slow-run", finish_after=None),
        ),
    )
    with SimulatorServer(config) as server:
        yield server


class _Page(html.parser.HTMLParser):
    """The page's text and links as a browser would see them (entities decoded)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.links: list[str] = []
        self.rows: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "a" and "href" in values:
            self.links.append(values["href"])
        if tag == "tr" and "data-key" in values:
            self.rows.append(values)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def applied(cli: Cli, run: Runner) -> dict[str, int]:
    cli.write_spec("runs.yaml", SPEC)
    result = run("apply", "--auto-approve")
    assert result.code == 0, result.all
    return {key: entry["testRunId"] for key, entry in cli.state()["runs"].items()}  # type: ignore[attr-defined]


def test_report_reads_status_records_results_and_shows_every_run(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    ids = applied(cli, run)
    out = cli.root / "reports" / "nested" / "report.html"  # the directories do not exist

    result = run("report", "--out", str(out))

    assert result.code == 0, result.all
    assert str(out) in result.out and "1 not ended" in result.out
    page = parse(out)
    text = "".join(page.text)
    assert {row["data-key"] for row in page.rows} == set(ids)
    outcome = {row["data-key"]: row["data-outcome"] for row in page.rows}
    assert outcome == {
        ODD_KEY: "passed",  # the default gate fails only Error and Canceled
        "clean-run": "passed",
        "broken-run": "failed",
        "slow-run": "pending",
    }
    assert page.rows[0]["data-key"] == "broken-run"  # failing first
    assert NASTY_NAME in text and NASTY_PROBE in text  # escaped, and shown intact
    assert "ended in Error" in text
    for key, test_run_id in ids.items():
        assert "https://probe.splx.ai/w/1234/target/" in " ".join(page.links)
        assert any(link.endswith(f"/test-runs/{test_run_id}") for link in page.links), key
    raw = out.read_text(encoding="utf-8")
    assert "<script>alert" not in raw and API_KEY not in raw
    assert not re.search(r"""(src|href)=["']?(https?:)?//(?!probe\.splx\.ai/)""", raw)
    # The three ended results are recorded; the run still going is not.
    runs = cli.state()["runs"]
    recorded = {key for key, entry in runs.items() if "result" in entry}  # type: ignore[attr-defined]
    assert recorded == {ODD_KEY, "clean-run", "broken-run"}

    # A second report reads only the run not ended.
    before = len(api_requests(sim))
    assert run("report", "--out", str(out)).code == 0
    reads = [r for r in api_requests(sim)[before:] if r.path.endswith("/status")]
    assert [r.path for r in reads] == [f"/api/v2/test-run/{ids['slow-run']}/status"]


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.mark.parametrize("flag", ["--refresh=false", "--no-refresh"])
def test_refresh_false_renders_from_state_alone_offline_without_a_key(
    cli: Cli, run: Runner, sim: SimulatorServer, flag: str
) -> None:
    applied(cli, run)
    assert run("report", "--out", str(cli.root / "first.html")).code == 0
    before = len(api_requests(sim))
    out = cli.root / "offline.html"

    result = run(
        "report",
        flag,
        "--out",
        str(out),
        env={"SPLX_API_KEY": None, "SPLX_API_URL": closed_port_url()},
    )

    assert result.code == 0, result.all
    assert len(api_requests(sim)) == before
    page = parse(out)
    text = " ".join(page.text)
    assert "from the state alone" in text
    outcome = {row["data-key"]: row["data-outcome"] for row in page.rows}
    assert outcome["broken-run"] == "failed" and outcome["slow-run"] == "pending"
    assert "not read (--refresh=false)" in text


def test_refresh_true_and_no_refresh_together_are_refused(cli: Cli, run: Runner) -> None:
    result = run("report", "--refresh=true", "--no-refresh", "--out", str(cli.root / "r.html"))
    assert result.code == 1
    assert "contradict" in result.err and "Traceback" not in result.all


def test_a_state_with_no_results_says_so(cli: Cli, run: Runner) -> None:
    out = cli.root / "empty.html"
    result = run("report", "--out", str(out))
    assert result.code == 0, result.all
    page = parse(out)
    assert "No results yet" in " ".join(page.text)
    assert page.rows == []
    assert 'id="runs"' not in out.read_text(encoding="utf-8")


def test_target_limits_the_page_and_unknown_keys_are_refused(cli: Cli, run: Runner) -> None:
    applied(cli, run)
    out = cli.root / "one.html"
    assert run("report", "--target", "clean-run", "--out", str(out)).code == 0
    assert [row["data-key"] for row in parse(out).rows] == ["clean-run"]

    refused = run("report", "--target", "nope", "--out", str(out))
    assert refused.code == 1
    assert "--target nope: no run with that key" in refused.err


def test_an_output_directory_that_cannot_be_made_is_refused_clearly(cli: Cli, run: Runner) -> None:
    blocker = cli.root / "a-file"
    blocker.write_text("not a directory")
    result = run("report", "--out", str(blocker / "report.html"))
    assert result.code == 1
    assert f"--out {blocker / 'report.html'}: cannot create the directory" in result.err
    assert "Traceback" not in result.all

    into_dir = run("report", "--out", str(cli.root))
    assert into_dir.code == 1 and "give a file name" in into_dir.err


def test_pdf_downloads_each_ended_runs_report_and_links_it(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    ids = applied(cli, run)
    out = cli.root / "site" / "report.html"

    result = run("report", "--out", str(out), "--pdf", str(cli.root / "site" / "pdfs"))

    assert result.code == 0, result.all
    pdfs = sorted((cli.root / "site" / "pdfs").iterdir())
    assert len(pdfs) == 3  # the run not ended has no report yet
    for pdf in pdfs:
        assert pdf.read_bytes().startswith(b"%PDF-")
        assert re.fullmatch(r"[A-Za-z0-9._-]+\.pdf", pdf.name)
    links = [link for link in parse(out).links if link.endswith(".pdf")]
    assert sorted(links) == sorted(f"pdfs/{pdf.name}" for pdf in pdfs)
    assert all((out.parent / link).is_file() for link in links)
    assert any(name.endswith(f"-{ids[ODD_KEY]}.pdf") for name in (p.name for p in pdfs))
    assert "no PDF until the run has ended" in " ".join(parse(out).text)


def test_a_pdf_that_fails_is_a_warning_and_a_note_not_a_failure(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    ids = applied(cli, run)
    assert run("report", "--out", str(cli.root / "first.html")).code == 0  # records results
    sim.delete_run(ids["clean-run"])  # its report now answers 404
    out = cli.root / "report.html"

    result = run("report", "--out", str(out), "--pdf", str(cli.root / "pdfs"))

    assert result.code == 0, result.all
    assert "clean-run: the PDF report was not downloaded" in result.err
    text = " ".join(parse(out).text)
    assert "PDF not downloaded" in text
    assert "1 of 3 PDF reports could not be downloaded" in text
    assert API_KEY not in out.read_text(encoding="utf-8")
    assert len(list((cli.root / "pdfs").iterdir())) == 2


def test_pdfs_already_downloaded_are_kept_and_no_key_is_a_note(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    applied(cli, run)
    out = cli.root / "report.html"
    assert run("report", "--out", str(out), "--pdf", str(cli.root / "pdfs")).code == 0
    before = len(api_requests(sim))

    again = run("report", "--out", str(out), "--pdf", str(cli.root / "pdfs"))

    assert again.code == 0, again.all
    sent = [r.path for r in api_requests(sim)[before:]]
    assert not [path for path in sent if path.endswith("/report")]  # an ended run's PDF is kept
    assert len([link for link in parse(out).links if link.endswith(".pdf")]) == 3

    offline = run(
        "report",
        "--refresh=false",
        "--out",
        str(out),
        "--pdf",
        str(cli.root / "other-pdfs"),
        env={"SPLX_API_KEY": None},
    )
    assert offline.code == 0, offline.all
    assert "the PDF report was not downloaded: SPLX_API_KEY is not set" in offline.err
    assert "PDF not downloaded: SPLX_API_KEY is not set" in " ".join(parse(out).text)


def test_results_are_shown_but_not_recorded_while_another_command_holds_the_lock(
    cli: Cli, run: Runner
) -> None:
    from reconciler.state.local import LocalStateStore

    applied(cli, run)
    out = cli.root / "report.html"
    with LocalStateStore(cli.state_path).lock("apply"):
        result = run("report", "--out", str(out))
    assert result.code == 0, result.all
    assert "shown but not recorded" in result.err
    text = " ".join(parse(out).text)
    assert "shown but not recorded" in text
    assert {row["data-outcome"] for row in parse(out).rows} == {"passed", "failed", "pending"}
    assert not any("result" in entry for entry in cli.state()["runs"].values())  # type: ignore[attr-defined]


def test_keys_with_unknown_outcomes_are_named_on_the_page(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    cli.write_spec("runs.yaml", SPEC)
    sim.set_faults(drop_after_trigger_rate=1.0)
    run("apply", "--auto-approve")  # every trigger's answer is lost: unknown outcomes
    out = cli.root / "report.html"

    result = run("report", "--out", str(out))

    assert result.code == 0, result.all
    text = " ".join(parse(out).text)
    assert "4 keys have an unknown trigger outcome" in text
    assert "No results yet" in text
    assert API_KEY not in out.read_text(encoding="utf-8")


def test_without_a_key_runs_not_ended_show_as_not_read(cli: Cli, run: Runner) -> None:
    applied(cli, run)
    out = cli.root / "report.html"
    result = run("report", "--out", str(out), env={"SPLX_API_KEY": None})
    assert result.code == 0, result.all
    assert "SPLX_API_KEY is not set: 4 runs not ended could not be read" in result.err
    text = " ".join(parse(out).text)
    assert "Not read" in text and "not read: SPLX_API_KEY is not set" in text


def test_runs_that_cannot_be_read_are_warned_about_and_still_shown(
    cli: Cli, run: Runner, sim: SimulatorServer
) -> None:
    applied(cli, run)
    sim.set_faults(error_rate=1.0)
    out = cli.root / "report.html"
    result = run("report", "--out", str(out), "--max-attempts", "1")
    assert result.code == 0, result.all
    assert "clean-run: status of 'clean-run'" in result.err
    assert {row["data-outcome"] for row in parse(out).rows} == {"pending"}


def test_a_pdf_directory_that_is_a_file_is_refused(cli: Cli, run: Runner) -> None:
    blocker = cli.root / "pdfs"
    blocker.write_text("a file")
    result = run("report", "--out", str(cli.root / "r.html"), "--pdf", str(blocker))
    assert result.code == 1
    assert f"--pdf {blocker}: that is a file" in result.err
    assert not (cli.root / "r.html").exists()
