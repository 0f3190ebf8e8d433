"""Where a run lives on the SPLX Probe platform (the web UI), for people to click.

Precedence of the platform, most explicit first: ``--platform-url``, ``SPLX_PLATFORM_URL`` (the
name the vendor's CI templates use), the project config's ``platformUrl``, then the platform of
the region (``--region`` or the config's ``region``; EU by default).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final
from urllib.parse import urlsplit

from reconciler.errors import UsageError

PLATFORMS: Final[Mapping[str, str]] = {
    "eu": "https://probe.splx.ai",
    "us": "https://us.probe.splx.ai",
}
PLATFORM_URL_ENV: Final = "SPLX_PLATFORM_URL"


def resolve_platform_url(
    flag: str | None,
    env: Mapping[str, str],
    *,
    region: str | None = None,
    configured: str | None = None,
) -> str:
    """The platform's base URL, without a trailing slash; see the module doc for precedence."""
    for source, value in (
        ("--platform-url", flag),
        (PLATFORM_URL_ENV, env.get(PLATFORM_URL_ENV) or None),
        ("reconciler.yaml: platformUrl", configured),
    ):
        if value is not None:
            return _checked(value, source)
    return PLATFORMS.get(region or "eu", PLATFORMS["eu"])


def run_url(platform: str, workspace_id: int, target_id: int, test_run_id: int) -> str:
    """``{platform}/w/{workspaceId}/target/{targetId}/test-runs/{testRunId}``."""
    return f"{platform}/w/{workspace_id}/target/{target_id}/test-runs/{test_run_id}"


def probe_run_url(run_link: str, probe_run_id: int) -> str:
    """A probe run's results tab, from its run's ``run_url``: ``{run}/probe/{id}?tab=results``."""
    return f"{run_link}/probe/{probe_run_id}?tab=results"


def _checked(url: str, source: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
        raise UsageError(
            f"{source}: {url!r} is not a usable platform URL; give one such as "
            f"{PLATFORMS['eu']} (no credentials)"
        )
    if parts.query or parts.fragment:
        raise UsageError(f"{source}: the platform URL must not carry a query or fragment")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
