"""Base URL resolution and checking, and the endpoint paths."""

from __future__ import annotations

import pytest

from reconciler.api.endpoints import (
    REGIONS,
    cancel_path,
    is_loopback,
    resolve_base_url,
    trigger_path,
    validate_base_url,
)
from reconciler.errors import ApiConfigError, UsageError

ENV_URL = {"SPLX_API_URL": "https://env.probe.test"}


def test_the_default_is_the_eu_server() -> None:
    assert resolve_base_url(None, None, {}) == "https://api.probe.splx.ai"


@pytest.mark.parametrize(("region", "url"), sorted(REGIONS.items()))
def test_a_region_beats_the_environment(region: str, url: str) -> None:
    assert resolve_base_url(None, region, ENV_URL) == url


def test_the_api_url_flag_beats_the_environment() -> None:
    assert resolve_base_url("https://flag.test/", None, ENV_URL) == "https://flag.test"


def test_the_environment_beats_the_default() -> None:
    assert resolve_base_url(None, None, ENV_URL) == "https://env.probe.test"


def test_an_empty_environment_url_counts_as_unset() -> None:
    assert resolve_base_url(None, None, {"SPLX_API_URL": ""}) == REGIONS["eu"]


def test_api_url_and_region_together_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="give only one of them"):
        resolve_base_url("https://flag.test", "us", {})


def test_an_unknown_region_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="'mars' is not a known region; choose one of eu, us"):
        resolve_base_url(None, "mars", {})


def test_a_bad_environment_url_names_the_variable() -> None:
    with pytest.raises(ApiConfigError, match=r"^SPLX_API_URL: refusing plain http://"):
        resolve_base_url(None, None, {"SPLX_API_URL": "http://probe.test"})


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("https://api.probe.splx.ai", "https://api.probe.splx.ai"),
        ("https://api.probe.splx.ai/", "https://api.probe.splx.ai"),
        ("HTTPS://Probe.Test:8443/prefix//", "https://Probe.Test:8443/prefix"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.9.9.9", "http://127.9.9.9"),
        ("http://[::1]:9000/", "http://[::1]:9000"),
        ("http://localhost:1234", "http://localhost:1234"),
        ("http://LOCALHOST", "http://LOCALHOST"),
    ],
)
def test_accepted_urls(url: str, normalised: str) -> None:
    assert validate_base_url(url, source="--api-url") == normalised


@pytest.mark.parametrize(
    "url",
    ["http://probe.test", "http://10.0.0.1", "http://[::2]", "http://localhost.evil.test"],
)
def test_plain_http_is_refused_except_to_loopback(url: str) -> None:
    with pytest.raises(ApiConfigError, match=r"refusing plain http://.*unencrypted"):
        validate_base_url(url, source="--api-url")


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("", "empty or contains spaces"),
        ("https://probe .test", "empty or contains spaces"),
        ("https://probe.test\n", "empty or contains spaces"),
        ("ftp://probe.test", r"is not an http\(s\) URL"),
        ("probe.test", r"is not an http\(s\) URL"),
        ("https://", "has no host"),
        ("https://probe.test:notaport", "is not a valid URL"),
        ("https://probe.test?", "must not carry a query string or fragment"),
        ("https://probe.test#x", "must not carry a query string or fragment"),
    ],
)
def test_malformed_urls(url: str, problem: str) -> None:
    with pytest.raises(ApiConfigError, match=problem):
        validate_base_url(url, source="--api-url")


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("https://user:hunter2@probe.test", "hunter2"),
        ("ftp://user:hunter2@probe.test", "hunter2"),
        ("https://probe.test/?token=hunter2", "hunter2"),
        ("https://probe.test/#hunter2", "hunter2"),
        ("https://user:hunter2@probe.test:x", "hunter2"),
    ],
)
def test_urls_with_secrets_are_refused_without_echoing_them(url: str, secret: str) -> None:
    with pytest.raises(ApiConfigError) as caught:
        validate_base_url(url, source="--api-url")
    assert secret not in str(caught.value)


def test_loopback_hosts() -> None:
    assert all(map(is_loopback, ["localhost", "localhost.", "127.0.0.1", "127.1.2.3", "::1"]))
    assert not any(map(is_loopback, ["128.0.0.1", "::2", "example.com", "0.0.0.0"]))


def test_paths() -> None:
    assert trigger_path(1234) == "/api/workspaces/1234/test-run/trigger"
    assert cancel_path(1234, 5678) == "/api/workspaces/1234/test-run/5678/cancel"
