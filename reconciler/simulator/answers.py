"""Answers the handlers share: the documented error shape, JSON bodies, and the bad answers an
export fault puts in place of the export's (``export.ExportFault``)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from reconciler.simulator.export import ATTACK_FIELDS, ExportFault, shaped
from reconciler.simulator.testcases import TestCase

UNAUTHORIZED_MESSAGE = "Unauthorized: Authentication is required to access this resource."

#: Code and message of each status a fault may answer with (401 is the documented one).
_STATUS_ERRORS = {
    400: ("BAD_REQUEST", "Bad request"),
    401: ("UNAUTHORIZED", UNAUTHORIZED_MESSAGE),
    403: ("FORBIDDEN", "Forbidden: this API key has no access to this resource."),
    404: ("NOT_FOUND", "Not found"),
    409: ("CONFLICT", "Conflict"),
    429: ("TOO_MANY_REQUESTS", "Too many requests: retry after the time given in Retry-After."),
    500: ("INTERNAL_SERVER_ERROR", "Internal server error"),
    502: ("BAD_GATEWAY", "Bad gateway"),
    503: ("SERVICE_UNAVAILABLE", "Service unavailable"),
    504: ("GATEWAY_TIMEOUT", "Gateway timeout"),
}
_LOGIN_PAGE = (
    b"<!DOCTYPE html><html><head><title>SPLX Probe - Sign in</title></head>"
    b'<body><form action="/login" method="post"><input name="email"><button>Sign in'
    b"</button></form></body></html>"
)


def error_response(
    status: int,
    message: str,
    code: str,
    validation_errors: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """An answer in the documented error shape ``{"error": {message, code, validationErrors?}}``."""
    detail: dict[str, Any] = {"message": message, "code": code}
    if validation_errors:
        detail["validationErrors"] = validation_errors
    return json_response(status, {"error": detail}, headers)


def json_response(
    status: int, document: Any, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(document).encode(),
        content_type="application/json",
        charset="utf-8",
        headers=headers,
    )


def validation_failed(errors: dict[str, list[str]]) -> web.Response:
    return error_response(
        400, "One or more validation errors occurred.", "VALIDATION_ERROR", errors
    )


def server_error() -> web.Response:
    return error_response(
        500, "Internal server error (injected by the simulator).", "INTERNAL_SERVER_ERROR"
    )


def fault_response(
    fault: ExportFault, cases: list[TestCase], shape: str, retry_after: int
) -> web.Response:
    """What an export answers under ``fault`` (a ``delay`` has waited already and answers
    ``cases`` as usual)."""
    if fault.kind == "html":
        return web.Response(body=_LOGIN_PAGE, content_type="text/html", charset="utf-8")
    if fault.kind == "not-json":
        # The start of a real answer, cut off: looks like JSON, is not.
        return web.Response(
            body=b'{"testCases": [{"id": "tc-', content_type="application/json", charset="utf-8"
        )
    if fault.kind == "no-list":
        return json_response(200, {"message": "ok", "total": len(cases)})
    if fault.kind == "no-attack":
        cases = [
            {key: value for key, value in case.items() if key not in ATTACK_FIELDS}
            for case in cases
        ]
    elif fault.kind == "duplicates":
        cases = [case for case in cases for _ in range(2)]
    elif fault.kind == "status" and fault.status is not None:
        return _status_response(fault.status, retry_after)
    return json_response(200, shaped(cases, shape))


def _status_response(status: int, retry_after: int) -> web.Response:
    if status == 405:
        return web.Response(status=405, headers={"Allow": "POST"})
    code, message = _STATUS_ERRORS[status]
    headers = {"Retry-After": str(retry_after)} if status == 429 else None
    return error_response(status, f"{message} (injected by the simulator).", code, headers=headers)
