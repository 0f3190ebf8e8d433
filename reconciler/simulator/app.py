"""The aiohttp application: the two Probe API endpoints and the read-only inspection endpoints.

Order of checks of an API request, modelled on an ASP.NET Core pipeline (routing, then
authentication, then authorization, then model binding):

1. a method other than POST → 405 (empty body, ``Allow: POST``);
2. injected faults: 429 with ``Retry-After``, or 500 (nothing is done);
3. missing or unknown ``X-Api-Key`` → 401 with the documented body;
4. a route parameter that is not an int32 → 400 with ``validationErrors`` (ASP.NET answers
   400 for a value that fails model binding of an unconstrained ``int`` parameter);
5. a workspace the key may not use → 403;
6. trigger only: a body over 1 MiB → 413; a content type other than the four documented
   ones → 415; an invalid body → 400 with ``validationErrors``;
7. the action: trigger → 200 ``{"testRunId": N}``; cancel → 200 empty, 404 for a run unknown
   in that workspace, 400 for a run that already ended.

Unknown paths answer 404 with an empty body, as ASP.NET routing does. Paths under
``/_simulator/`` belong to the simulator, need no key, never see faults and are not logged.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from reconciler.simulator.config import KeyGrant, SimulatorConfig
from reconciler.simulator.store import (
    CancelResult,
    ReceivedRequest,
    RunIdsExhaustedError,
    SimulatorStore,
)
from reconciler.simulator.validation import (
    TriggerRequest,
    is_accepted_content_type,
    path_errors,
    validate_trigger_body,
)

STORE_KEY = web.AppKey("store", SimulatorStore)

TRIGGER_PATH = "/api/workspaces/{workspaceId}/test-run/trigger"
CANCEL_PATH = "/api/workspaces/{workspaceId}/test-run/{testRunId}/cancel"
INSPECT_PREFIX = "/_simulator/"
#: The documented request body is tiny; ASP.NET's own default limit is far larger, but
#: nothing legitimate comes close to this.
MAX_BODY = 1024 * 1024

UNAUTHORIZED_MESSAGE = "Unauthorized: Authentication is required to access this resource."
# Never copied into the request log.
_SECRET_HEADERS = frozenset({"x-api-key", "authorization", "cookie", "proxy-authorization"})


@dataclass(slots=True)
class _Call:
    """One API request on its way through the checks, with what they found so far."""

    request: web.Request
    store: SimulatorStore
    config: SimulatorConfig
    entry: ReceivedRequest
    grant: KeyGrant | None
    #: None when the body was over ``MAX_BODY``.
    body: bytes | None


Action = Callable[[_Call, dict[str, int]], Awaitable[web.StreamResponse]]


def make_app(store: SimulatorStore) -> web.Application:
    """A fresh application serving ``store``."""
    app = web.Application(client_max_size=MAX_BODY)
    app[STORE_KEY] = store
    router = app.router
    router.add_route("*", TRIGGER_PATH, _endpoint(_trigger, ("workspaceId",)))
    router.add_route("*", CANCEL_PATH, _endpoint(_cancel, ("workspaceId", "testRunId")))
    router.add_get(INSPECT_PREFIX + "health", _health)
    router.add_get(INSPECT_PREFIX + "runs", _runs)
    router.add_get(INSPECT_PREFIX + "requests", _requests)
    router.add_route("*", "/{tail:.*}", _unknown_path)
    return app


# --- answers ---------------------------------------------------------------------------------


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
    return _json(status, {"error": detail}, headers)


def _json(status: int, document: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(document).encode(),
        content_type="application/json",
        charset="utf-8",
        headers=headers,
    )


def _validation_failed(errors: dict[str, list[str]]) -> web.Response:
    return error_response(
        400, "One or more validation errors occurred.", "VALIDATION_ERROR", errors
    )


# --- API endpoints ---------------------------------------------------------------------------


def _endpoint(
    action: Action, params: tuple[str, ...]
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Wrap ``action`` in what both API endpoints share: log, faults, key, route params."""

    async def handle(request: web.Request) -> web.StreamResponse:
        store = request.app[STORE_KEY]
        config = store.config
        try:
            body: bytes | None = await request.read()
        except web.HTTPRequestEntityTooLarge:
            body = None
        key = request.headers.get("X-Api-Key")
        grant = config.grant_for(key)
        entry = store.log_request(
            {
                "received_wall": time.time(),
                "method": request.method,
                "path": request.path,
                "query": request.query_string,
                "headers": {
                    name: value
                    for name, value in request.headers.items()
                    if name.lower() not in _SECRET_HEADERS
                },
                "api_key_present": key is not None,
                "api_key_ok": grant is not None,
                "api_key_label": grant.label if grant else None,
                "body": "" if body is None else body.decode("utf-8", "replace"),
            }
        )
        call = _Call(request, store, config, entry, grant, body)
        if config.latency:
            await asyncio.sleep(config.latency)
        admitted = _admit(call, params)
        if isinstance(admitted, web.StreamResponse):
            response = admitted
        else:
            response = await action(call, admitted)
        if entry.fault != "dropped":
            entry.status = response.status
        return response

    return handle


def _admit(call: _Call, params: tuple[str, ...]) -> dict[str, int] | web.StreamResponse:
    """The route parameters of a request that passed every shared check, or the refusal."""
    refusal = _gate(call)
    if refusal is not None:
        return refusal
    values, errors = path_errors(**{name: call.request.match_info[name] for name in params})
    if errors:
        return _validation_failed(errors)
    workspace_id = values["workspaceId"]
    if call.grant is None or not call.grant.allows(workspace_id):
        return error_response(
            403,
            f"Forbidden: this API key has no access to workspace {workspace_id}.",
            "FORBIDDEN",
        )
    return values


def _gate(call: _Call) -> web.StreamResponse | None:
    """Refusals before the request's content matters: method, injected faults, key."""
    if call.request.method != "POST":
        return web.Response(status=405, headers={"Allow": "POST"})
    call.entry.fault = call.store.roll_before()
    if call.entry.fault == "rate_limited":
        return error_response(
            429,
            "Too many requests: retry after the time given in Retry-After.",
            "TOO_MANY_REQUESTS",
            headers={"Retry-After": str(call.config.retry_after)},
        )
    if call.entry.fault == "server_error":
        return _server_error()
    if call.grant is None:
        return error_response(401, UNAUTHORIZED_MESSAGE, "UNAUTHORIZED")
    return None


def _server_error() -> web.Response:
    return error_response(
        500, "Internal server error (injected by the simulator).", "INTERNAL_SERVER_ERROR"
    )


async def _trigger(call: _Call, values: dict[str, int]) -> web.StreamResponse:
    trigger = _trigger_request(call)
    if isinstance(trigger, web.Response):
        return trigger
    try:
        run = call.store.trigger(values["workspaceId"], trigger)
    except RunIdsExhaustedError:
        return _server_error()
    call.entry.test_run_id = run.test_run_id
    call.entry.fault = call.store.roll_after_trigger()
    if call.entry.fault == "dropped":
        return _drop(call.request)
    if call.entry.fault == "error_after_trigger":
        return _server_error()
    return web.Response(
        body=b'{"testRunId":%d}' % run.test_run_id,
        content_type="application/json",
        charset="utf-8",
    )


def _trigger_request(call: _Call) -> TriggerRequest | web.Response:
    """The checked trigger body, or the answer that refuses it (413, 415 or 400)."""
    if call.body is None:
        return error_response(
            413, f"The request body is larger than {MAX_BODY} bytes.", "PAYLOAD_TOO_LARGE"
        )
    if not is_accepted_content_type(call.request.headers.get("Content-Type")):
        return error_response(
            415,
            "Unsupported Media Type: send the body as application/json.",
            "UNSUPPORTED_MEDIA_TYPE",
        )
    trigger, errors = validate_trigger_body(call.body)
    return _validation_failed(errors) if trigger is None else trigger


def _drop(request: web.Request) -> web.StreamResponse:
    """Close the connection without answering: the client cannot tell what happened."""
    if request.transport is not None:
        request.transport.close()
    # aiohttp sees a closed transport and writes nothing of this response.
    return web.Response(status=599)


async def _cancel(call: _Call, values: dict[str, int]) -> web.StreamResponse:
    workspace_id, test_run_id = values["workspaceId"], values["testRunId"]
    result, status = call.store.cancel(workspace_id, test_run_id)
    if result is CancelResult.NOT_FOUND:
        return error_response(
            404,
            f"Test run {test_run_id} was not found in workspace {workspace_id}.",
            "NOT_FOUND",
        )
    if result is CancelResult.ALREADY_ENDED:
        return error_response(
            400,
            f"Test run {test_run_id} cannot be canceled: its status is {status}.",
            "TEST_RUN_NOT_CANCELABLE",
        )
    call.entry.test_run_id = test_run_id
    return web.Response(status=200)


# --- inspection ------------------------------------------------------------------------------


async def _health(request: web.Request) -> web.Response:
    store = request.app[STORE_KEY]
    return _json(200, {"status": "ok", "triggers": store.trigger_count()})


async def _runs(request: web.Request) -> web.Response:
    return _json(200, {"runs": request.app[STORE_KEY].runs()})


async def _requests(request: web.Request) -> web.Response:
    entries = request.app[STORE_KEY].requests()
    return _json(200, {"requests": [entry.to_json() for entry in entries]})


async def _unknown_path(request: web.Request) -> web.StreamResponse:
    if request.path.startswith(INSPECT_PREFIX) and request.method not in ("GET", "HEAD"):
        # The inspection endpoints are read-only.
        return web.Response(status=405, headers={"Allow": "GET"})
    return web.Response(status=404)
