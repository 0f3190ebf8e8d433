"""The SPLX Probe API: the ``ProbeApi`` contract (``base``), its httpx client (``client``), the
retry policy (``retry``), server URLs and paths (``endpoints``) and response bodies (``wire``)."""

from reconciler.api.base import CancelOutcome, ProbeApi
from reconciler.api.client import API_KEY_ENV, ProbeClient
from reconciler.api.endpoints import REGIONS, resolve_base_url
from reconciler.api.retry import RetryPolicy

__all__ = [
    "API_KEY_ENV",
    "REGIONS",
    "CancelOutcome",
    "ProbeApi",
    "ProbeClient",
    "RetryPolicy",
    "resolve_base_url",
]
