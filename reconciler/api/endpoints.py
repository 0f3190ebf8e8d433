"""Where the Probe API lives: choosing and checking the base URL, and the paths of its endpoints.

Precedence of the base URL, most explicit first (flags beat the environment, as in every
command-line tool of this kind):

1. ``--api-url URL``
2. ``--region eu|us``
3. ``SPLX_API_URL`` from the environment (an empty value counts as unset)
4. the EU server

``--api-url`` together with ``--region`` is a usage error: they answer the same question.

Every URL, whatever its source, must be ``https://``, or ``http://`` to a loopback host (the
local simulator): the API key travels in a header and must never cross a network unencrypted.
A URL carrying credentials, a query or a fragment is refused, and such a URL is never echoed
back in the error, since those parts are where secrets hide.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import SplitResult, urlsplit

from reconciler.errors import ApiConfigError, UsageError

REGIONS: Final[Mapping[str, str]] = {
    "eu": "https://api.probe.splx.ai",
    "us": "https://us.api.probe.splx.ai",
}
DEFAULT_REGION: Final = "eu"
API_URL_ENV: Final = "SPLX_API_URL"

_EXAMPLE: Final = "e.g. https://api.probe.splx.ai"


def resolve_base_url(api_url: str | None, region: str | None, env: Mapping[str, str]) -> str:
    """The API base URL (no trailing slash) chosen by flags and environment; see module doc."""
    if api_url is not None and region is not None:
        raise UsageError("--api-url and --region both choose the API server: give only one of them")
    if api_url is not None:
        return validate_base_url(api_url, source="--api-url")
    if region is not None:
        if region not in REGIONS:
            choices = ", ".join(sorted(REGIONS))
            raise UsageError(f"--region {region!r} is not a known region; choose one of {choices}")
        return REGIONS[region]
    from_env = env.get(API_URL_ENV, "")
    if from_env:
        return validate_base_url(from_env, source=API_URL_ENV)
    return REGIONS[DEFAULT_REGION]


def validate_base_url(url: str, *, source: str) -> str:
    """Check one base URL and return it normalised; ``source`` names where it came from."""
    if not url or any(ch.isspace() or not ch.isprintable() for ch in url):
        raise ApiConfigError(
            f"{source}: the API URL is empty or contains spaces or control characters; "
            f"give a plain URL, {_EXAMPLE}"
        )
    try:
        parts = urlsplit(url)
        # .port parses lazily and is where a malformed port shows up.
        _ = parts.port
    except ValueError:
        raise ApiConfigError(f"{source}: {_shown(url)} is not a valid URL; {_EXAMPLE}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ApiConfigError(f"{source}: {_shown(url)} is not an http(s) URL; {_EXAMPLE}")
    if "@" in parts.netloc:
        raise ApiConfigError(
            f"{source}: the API URL carries credentials (user:password@); remove them. "
            "The API key is read only from SPLX_API_KEY."
        )
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise ApiConfigError(
            f"{source}: the API URL {_origin(parts)} must not carry a query string or "
            "fragment; give only scheme, host, optional port and optional path prefix"
        )
    host = parts.hostname
    if not host:
        raise ApiConfigError(f"{source}: {_shown(url)} has no host; {_EXAMPLE}")
    if scheme == "http" and not is_loopback(host):
        raise ApiConfigError(
            f"{source}: refusing plain http:// to {host}: the API key would cross the network "
            "unencrypted. Use https://, or http:// only to a loopback address "
            "(127.0.0.1, ::1, localhost) such as the local simulator."
        )
    return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and for addresses in 127.0.0.0/8 or ``::1``."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def trigger_path(workspace_id: int) -> str:
    """``POST`` here to trigger a run in ``workspace_id``."""
    return f"/api/workspaces/{int(workspace_id)}/test-run/trigger"


def cancel_path(workspace_id: int, test_run_id: int) -> str:
    """``POST`` here to cancel run ``test_run_id`` of ``workspace_id``."""
    return f"/api/workspaces/{int(workspace_id)}/test-run/{int(test_run_id)}/cancel"


#: The documented status endpoint. The path is a template because a workspace-scoped form is
#: expected (``/api/workspaces/{workspaceId}/test-run/{testRunId}/status``) and not confirmed.
DEFAULT_STATUS_PATH: Final = "/api/v2/test-run/{testRunId}/status"
STATUS_PATH_ENV: Final = "RECONCILER_STATUS_PATH"
#: The documented test-case export (``POST``). A template like the status path: it is shown in
#: the vendor's examples only, so a deployment that moved it can be followed without a release.
DEFAULT_FINDINGS_PATH: Final = (
    "/api/workspaces/{workspaceId}/probe-run/{probeRunId}/test-cases/export"
)
FINDINGS_PATH_ENV: Final = "RECONCILER_FINDINGS_PATH"
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class _Template:
    """What a path template of one endpoint may hold."""

    what: str
    default: str
    placeholders: tuple[str, ...]
    #: The placeholder that tells one object from another: without it every call reads one.
    required: str
    #: What goes wrong without ``required``.
    same: str


_STATUS: Final = _Template(
    "status path", DEFAULT_STATUS_PATH, ("testRunId", "workspaceId"), "testRunId", "status"
)
_FINDINGS: Final = _Template(
    "findings path",
    DEFAULT_FINDINGS_PATH,
    ("workspaceId", "probeRunId"),
    "probeRunId",
    "test cases",
)


def check_status_path(template: str, *, source: str) -> str:
    """A status path template as given, or ``ApiConfigError`` naming ``source`` and the fix."""
    return _check_template(template, _STATUS, source=source)


def check_findings_path(template: str, *, source: str) -> str:
    """A findings (test-case export) path template as given, or ``ApiConfigError`` naming
    ``source`` and the fix; ``{probeRunId}`` is required, ``{workspaceId}`` optional."""
    return _check_template(template, _FINDINGS, source=source)


def _check_template(template: str, kind: _Template, *, source: str) -> str:
    example = f"e.g. {kind.default}"
    if not template.startswith("/") or any(ch.isspace() or ch in "?#" for ch in template):
        raise ApiConfigError(
            f"{source}: the {kind.what} {template!r} must start with / and hold no spaces, "
            f"query or fragment; {example}"
        )
    names = _PLACEHOLDER.findall(template)
    unknown = [name for name in names if name not in kind.placeholders]
    if unknown:
        known = " and ".join(f"{{{name}}}" for name in kind.placeholders)
        raise ApiConfigError(
            f"{source}: the {kind.what} has an unknown placeholder {{{unknown[0]}}}; the known "
            f"ones are {known}; {example}"
        )
    if kind.required not in names:
        raise ApiConfigError(
            f"{source}: the {kind.what} {template!r} has no {{{kind.required}}} placeholder, so "
            f"every call would read the same {kind.same}; {example}"
        )
    if "{" in _PLACEHOLDER.sub("", template) or "}" in _PLACEHOLDER.sub("", template):
        raise ApiConfigError(f"{source}: the {kind.what} {template!r} has an unmatched brace")
    return template


def status_path(template: str, workspace_id: int, test_run_id: int) -> str:
    """``GET`` here for the status of run ``test_run_id`` (template already checked)."""
    return template.replace("{testRunId}", str(int(test_run_id))).replace(
        "{workspaceId}", str(int(workspace_id))
    )


def findings_path(template: str, workspace_id: int, probe_run_id: int) -> str:
    """``POST`` here for the test cases of probe run ``probe_run_id`` (template checked)."""
    return template.replace("{probeRunId}", str(int(probe_run_id))).replace(
        "{workspaceId}", str(int(workspace_id))
    )


def report_path(test_run_id: int) -> str:
    """``GET`` here for the PDF report of an ended run (the platform's own report)."""
    return f"/api/v2/test-run/{int(test_run_id)}/report"


def _origin(parts: SplitResult) -> str:
    """scheme://host[:port]/path of a URL: never its credentials, query or fragment."""
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path}"


def _shown(url: str) -> str:
    """A URL quoted for an error message, without anything that may hold a secret."""
    url = re.split(r"[?#]", url, maxsplit=1)[0]
    if "@" in url:
        head, _, tail = url.rpartition("@")
        scheme, sep, _ = head.partition("://")
        url = f"{scheme}{sep}***@{tail}" if sep else f"***@{tail}"
    return repr(url)
