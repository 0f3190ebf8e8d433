"""ProbeClient.get_report: the run's PDF, validated before anyone saves it as one.

The simulator serves a valid PDF (tests/e2e/test_report.py downloads it over loopback); what it
never sends, a wrong content type or an HTML page saying 200, is played here over MockTransport.
"""

from __future__ import annotations

import httpx
import pytest

from reconciler.errors import AuthenticationError, RequestRejectedError, ServerError

from .conftest import API_KEY, ClientFactory, error_body, reply

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
REPORT_URL = "https://probe.test/api/v2/test-run/5678/report"


def test_get_report_asks_for_a_pdf_and_returns_its_bytes(make_client: ClientFactory) -> None:
    client, script = make_client(reply(200, PDF, **{"Content-Type": "application/pdf"}))

    assert client.get_report(1234, 5678, key="k") == PDF

    (request,) = script.requests
    assert request.method == "GET"
    assert str(request.url) == REPORT_URL
    assert request.headers["Accept"] == "application/pdf"
    assert request.headers["X-Api-Key"] == API_KEY


def test_get_report_is_retried_like_a_read(make_client: ClientFactory) -> None:
    client, script = make_client(
        reply(503),
        httpx.ReadTimeout("timed out"),
        reply(200, PDF, **{"Content-Type": "application/pdf; qs=1"}),
    )
    assert client.get_report(1234, 5678, key="k") == PDF
    assert len(script.requests) == 3


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/html", b"<html>sign in</html>"),
        ("application/pdf", b"<html>not really</html>"),
        ("application/json", PDF),
        ("", PDF),
    ],
)
def test_an_answer_that_is_not_a_pdf_is_refused(
    make_client: ClientFactory, content_type: str, body: bytes
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    client, _ = make_client(reply(200, body, **headers))
    with pytest.raises(ServerError, match="not a PDF") as caught:
        client.get_report(1234, 5678, key="web[1]")
    assert "report of 'web[1]' (run 5678, workspace 1234)" in str(caught.value)
    assert "its PDF report was not downloaded" in str(caught.value)


def test_no_report_and_a_bad_key_are_api_errors(make_client: ClientFactory) -> None:
    client, _ = make_client(
        reply(400, error_body("no report yet", "TEST_RUN_NOT_ENDED")),
        reply(404),
        reply(401),
    )
    with pytest.raises(RequestRejectedError, match="no report yet"):
        client.get_report(1234, 5678, key="k")
    with pytest.raises(RequestRejectedError, match="404"):
        client.get_report(1234, 5678, key="k")
    with pytest.raises(AuthenticationError) as caught:
        client.get_report(1234, 5678, key="k")
    assert caught.value.fatal and API_KEY not in str(caught.value)
