"""The TLS context choice: full CA bundle for https, a cheap still-verifying one for http."""

from __future__ import annotations

import ssl

from reconciler.api.client import _tls_context_for


def test_https_uses_httpx_default_verification() -> None:
    assert _tls_context_for("https://api.probe.splx.ai") is True


def test_plain_http_gets_a_context_that_still_verifies_but_loads_no_cas() -> None:
    context = _tls_context_for("http://127.0.0.1:8080")
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.cert_store_stats()["x509_ca"] == 0
