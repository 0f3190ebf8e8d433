"""The aiohttp application: the Probe API endpoints, inspection and the admin (control) API.

API endpoints: trigger and cancel (POST), the run status (GET, in the documented v2 form and a
workspace-scoped form), the run's PDF report (GET) and the test-case export of a probe run
(POST).

Order of checks of an API request, modelled on an ASP.NET Core pipeline (routing, then
authentication, then authorization, then model binding):

1. a method other than the endpoint's → 405 (empty body, ``Allow: POST`` or ``GET``);
2. injected faults: 429 with ``Retry-After``, or 500 (nothing is done);
3. missing or unknown ``X-Api-Key`` → 401 with the documented body;
4. a route parameter that is not an int32 → 400 with ``validationErrors`` (ASP.NET answers
   400 for a value that fails model binding of an unconstrained ``int`` parameter);
5. a workspace the key may not use → 403;
6. trigger and export: a body over 1 MiB → 413; a content type other than the four
   documented ones → 415; an invalid body → 400 with ``validationErrors``;
7. the action: trigger → 200 ``{"testRunId": N}``; cancel → 200 empty, 404 for a run unknown
   in that workspace, 400 for a run that already ended; status → 200 document, 404 unknown
   (or not in the path's workspace), 403 when the key may not see the run's workspace; report
   → like status, plus 400 ``TEST_RUN_NOT_ENDED`` while the run is Pending or Running;
   export → 200 the probe run's test cases (``export``), 404 for a probe run unknown in the
   path's workspace, or the answer an export fault puts in its place.

Unknown paths answer 404 with an empty body, as ASP.NET routing does. Paths under
``/_simulator/`` belong to the simulator, need no key, never see faults and are not logged:
GET ones inspect, POST/DELETE ones control (the clock, outcome rules, export faults, cancel
and delete "from the web UI"). Admin bodies are strict JSON objects: an unknown field is a 400
naming it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from reconciler.simulator.answers import (
    UNAUTHORIZED_MESSAGE,
    error_response,
    fault_response,
    json_response,
    server_error,
    validation_failed,
)
from reconciler.simulator.config import KeyGrant, SimulatorConfig
from reconciler.simulator.export import FAULT_FIELDS, ExportFault, select, shaped
from reconciler.simulator.outcomes import OUTCOME_FIELDS, OutcomeError, OutcomeRule
from reconciler.simulator.pdf import text_pdf
from reconciler.simulator.runs import CANCELABLE
from reconciler.simulator.store import (
    CancelResult,
    ReceivedRequest,
    RuleResult,
    RunIdsExhaustedError,
    RunView,
    SimulatorStore,
)
from reconciler.simulator.testcases import RESULTS
from reconciler.simulator.validation import (
    is_accepted_content_type,
    parse_int32,
    path_errors,
    validate_export_body,
    validate_trigger_body,
)

STORE_KEY = web.AppKey("store", SimulatorStore)

TRIGGER_PATH = "/api/workspaces/{workspaceId}/test-run/trigger"
CANCEL_PATH = "/api/workspaces/{workspaceId}/test-run/{testRunId}/cancel"
STATUS_PATH = "/api/v2/test-run/{testRunId}/status"
#: Not confirmed by the documentation; served so the client's ``statusPath`` can use it.
WORKSPACE_STATUS_PATH = "/api/workspaces/{workspaceId}/test-run/{testRunId}/status"
REPORT_PATH = "/api/v2/test-run/{testRunId}/report"
EXPORT_PATH = "/api/workspaces/{workspaceId}/probe-run/{probeRunId}/test-cases/export"
INSPECT_PREFIX = "/_simulator/"
#: The documented request body is tiny; ASP.NET's own default limit is far larger, but
#: nothing legitimate comes close to this.
MAX_BODY = 1024 * 1024

__all__ = ["UNAUTHORIZED_MESSAGE", "error_response", "make_app"]
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
Body = TypeVar("Body")


def make_app(store: SimulatorStore) -> web.Application:
    """A fresh application serving ``store``."""
    app = web.Application(client_max_size=MAX_BODY)
    app[STORE_KEY] = store
    router = app.router
    router.add_route("*", TRIGGER_PATH, _endpoint(_trigger, ("workspaceId",)))
    router.add_route("*", CANCEL_PATH, _endpoint(_cancel, ("workspaceId", "testRunId")))
    router.add_route("*", STATUS_PATH, _endpoint(_status, ("testRunId",), method="GET"))
    router.add_route(
        "*", WORKSPACE_STATUS_PATH, _endpoint(_status, ("workspaceId", "testRunId"), method="GET")
    )
    router.add_route("*", REPORT_PATH, _endpoint(_report, ("testRunId",), method="GET"))
    router.add_route("*", EXPORT_PATH, _endpoint(_export, ("workspaceId", "probeRunId")))
    router.add_get(INSPECT_PREFIX + "health", _health)
    router.add_get(INSPECT_PREFIX + "runs", _runs)
    router.add_get(INSPECT_PREFIX + "requests", _requests)
    router.add_get(INSPECT_PREFIX + "clock", _clock)
    router.add_post(INSPECT_PREFIX + "clock", _advance_clock)
    router.add_get(INSPECT_PREFIX + "outcomes", _outcomes)
    router.add_post(INSPECT_PREFIX + "outcomes", _add_outcome)
    router.add_delete(INSPECT_PREFIX + "outcomes", _clear_outcomes)
    router.add_post(INSPECT_PREFIX + "runs/{testRunId}/cancel", _ui_cancel)
    router.add_delete(INSPECT_PREFIX + "runs/{testRunId}", _ui_delete)
    router.add_get(INSPECT_PREFIX + "runs/{testRunId}/test-cases", _run_test_cases)
    router.add_get(INSPECT_PREFIX + "export-faults", _export_faults)
    router.add_post(INSPECT_PREFIX + "export-faults", _add_export_fault)
    router.add_delete(INSPECT_PREFIX + "export-faults", _clear_export_faults)
    router.add_route("*", "/{tail:.*}", _unknown_path)
    return app


# --- answers ---------------------------------------------------------------------------------


# --- API endpoints ---------------------------------------------------------------------------


def _endpoint(
    action: Action, params: tuple[str, ...], *, method: str = "POST"
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Wrap ``action`` in what every API endpoint shares: log, faults, key, route params."""

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
        admitted = _admit(call, params, method)
        if isinstance(admitted, web.StreamResponse):
            response = admitted
        else:
            response = await action(call, admitted)
        if entry.fault != "dropped":
            entry.status = response.status
        return response

    return handle


def _admit(
    call: _Call, params: tuple[str, ...], method: str
) -> dict[str, int] | web.StreamResponse:
    """The route parameters of a request that passed every shared check, or the refusal.

    A path without ``workspaceId`` leaves the workspace check to the action, which knows the
    run's workspace.
    """
    refusal = _gate(call, method)
    if refusal is not None:
        return refusal
    values, errors = path_errors(**{name: call.request.match_info[name] for name in params})
    if errors:
        return validation_failed(errors)
    if "workspaceId" in values:
        refusal = _forbidden(call, values["workspaceId"])
        if refusal is not None:
            return refusal
    return values


def _forbidden(call: _Call, workspace_id: int) -> web.Response | None:
    if call.grant is None or not call.grant.allows(workspace_id):
        return error_response(
            403,
            f"Forbidden: this API key has no access to workspace {workspace_id}.",
            "FORBIDDEN",
        )
    return None


def _gate(call: _Call, method: str) -> web.StreamResponse | None:
    """Refusals before the request's content matters: method, injected faults, key."""
    if call.request.method != method:
        return web.Response(status=405, headers={"Allow": method})
    call.entry.fault = call.store.roll_before()
    if call.entry.fault == "rate_limited":
        return error_response(
            429,
            "Too many requests: retry after the time given in Retry-After.",
            "TOO_MANY_REQUESTS",
            headers={"Retry-After": str(call.config.retry_after)},
        )
    if call.entry.fault == "server_error":
        return server_error()
    if call.grant is None:
        return error_response(401, UNAUTHORIZED_MESSAGE, "UNAUTHORIZED")
    return None


async def _trigger(call: _Call, values: dict[str, int]) -> web.StreamResponse:
    trigger = _checked_body(call, validate_trigger_body)
    if isinstance(trigger, web.Response):
        return trigger
    try:
        run = call.store.trigger(values["workspaceId"], trigger)
    except RunIdsExhaustedError:
        return server_error()
    call.entry.test_run_id = run.test_run_id
    call.entry.fault = call.store.roll_after_trigger()
    if call.entry.fault == "dropped":
        return _drop(call.request)
    if call.entry.fault == "error_after_trigger":
        return server_error()
    return web.Response(
        body=b'{"testRunId":%d}' % run.test_run_id,
        content_type="application/json",
        charset="utf-8",
    )


def _checked_body(
    call: _Call, validate: Callable[[bytes], tuple[Body | None, dict[str, list[str]]]]
) -> Body | web.Response:
    """The body as ``validate`` reads it, or the answer that refuses it (413, 415 or 400)."""
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
    checked, errors = validate(call.body)
    return validation_failed(errors) if checked is None else checked


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


def _run_not_found(test_run_id: int, workspace_id: int | None = None) -> web.Response:
    where = "" if workspace_id is None else f" in workspace {workspace_id}"
    return error_response(404, f"Test run {test_run_id} was not found{where}.", "NOT_FOUND")


def _visible_run(call: _Call, values: dict[str, int]) -> RunView | web.Response:
    """The run the path names, or 404 (unknown, or not in the path's workspace) / 403."""
    test_run_id = values["testRunId"]
    view = call.store.view(test_run_id)
    workspace_id = values.get("workspaceId")
    if view is None or workspace_id not in (None, view.workspace_id):
        return _run_not_found(test_run_id, workspace_id)
    refusal = _forbidden(call, view.workspace_id)
    if refusal is not None:
        return refusal
    call.entry.test_run_id = test_run_id
    return view


async def _status(call: _Call, values: dict[str, int]) -> web.StreamResponse:
    view = _visible_run(call, values)
    return view if isinstance(view, web.Response) else json_response(200, view.document)


async def _report(call: _Call, values: dict[str, int]) -> web.StreamResponse:
    view = _visible_run(call, values)
    if isinstance(view, web.Response):
        return view
    if view.status in CANCELABLE:
        return error_response(
            400,
            f"Test run {values['testRunId']} has no report yet: its status is {view.status}.",
            "TEST_RUN_NOT_ENDED",
        )
    return web.Response(
        body=_report_pdf(view),
        content_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="test-run-{values["testRunId"]}.pdf"'
        },
    )


def _report_pdf(view: RunView) -> bytes:
    document = view.document
    probe_runs = document["probeRuns"]
    total = sum(run["totalCount"] for run in probe_runs)
    lines = [
        f"SPLX Probe test run report (simulated): test run {document['testRunId']}",
        f"Name: {view.name}",
        f"Status: {document['status']}",
        f"Executed: {document['executionDate'] or '-'}",
        f"Test cases: {total} total, "
        f"{sum(run['passedCount'] for run in probe_runs)} passed, "
        f"{sum(run['failedCount'] for run in probe_runs)} failed, "
        f"{sum(run['errorCount'] for run in probe_runs)} errored",
        "",
    ]
    lines += [
        f"{run['probeName']} (probe {run['probeId']}, probe run {run['probeRunId']}): "
        f"{run['status']}, {run['passedCount']} passed, {run['failedCount']} failed, "
        f"{run['errorCount']} errored of {run['totalCount']}"
        for run in probe_runs
    ]
    return text_pdf(lines, title=f"Test run {document['testRunId']}")


async def _export(call: _Call, values: dict[str, int]) -> web.StreamResponse:
    request = _checked_body(call, validate_export_body)
    if isinstance(request, web.Response):
        return request
    workspace_id, probe_run_id = values["workspaceId"], values["probeRunId"]
    found = call.store.probe_run_cases(probe_run_id)
    if found is None or found[0].workspace_id != workspace_id:
        return error_response(
            404,
            f"Probe run {probe_run_id} was not found in workspace {workspace_id}.",
            "NOT_FOUND",
        )
    probe_run, name = found
    call.entry.test_run_id = probe_run.test_run_id
    cases = select(probe_run.test_cases(request.results or RESULTS), request)
    fault = call.store.export_fault(probe_run.test_run_id, name)
    if fault is None:
        return json_response(200, shaped(cases, call.config.findings_shape))
    call.entry.fault = fault.label()
    if fault.kind == "delay" and fault.seconds:
        await asyncio.sleep(fault.seconds)
    return fault_response(fault, cases, call.config.findings_shape, call.config.retry_after)


# --- inspection ------------------------------------------------------------------------------


async def _health(request: web.Request) -> web.Response:
    store = request.app[STORE_KEY]
    return json_response(200, {"status": "ok", "triggers": store.trigger_count()})


async def _runs(request: web.Request) -> web.Response:
    return json_response(200, {"runs": request.app[STORE_KEY].runs()})


async def _requests(request: web.Request) -> web.Response:
    entries = request.app[STORE_KEY].requests()
    return json_response(200, {"requests": [entry.to_json() for entry in entries]})


async def _clock(request: web.Request) -> web.Response:
    return json_response(200, request.app[STORE_KEY].clock_json())


async def _run_test_cases(request: web.Request) -> web.Response:
    test_run_id = _admin_run_id(request)
    if isinstance(test_run_id, web.Response):
        return test_run_id
    probe_runs = request.app[STORE_KEY].run_cases(test_run_id)
    if probe_runs is None:
        return _run_not_found(test_run_id)
    document = {
        "testRunId": test_run_id,
        "probeRuns": [
            {
                "probeRunId": cases.probe_run_id,
                "probeId": cases.probe_id,
                "counts": cases.counts,
                "testCases": cases.test_cases(),
            }
            for cases in probe_runs
        ],
    }
    return json_response(200, document)


async def _export_faults(request: web.Request) -> web.Response:
    return json_response(200, {"exportFaults": request.app[STORE_KEY].export_faults()})


async def _add_export_fault(request: web.Request) -> web.Response:
    document = await _admin_body(request, FAULT_FIELDS)
    if isinstance(document, web.Response):
        return document
    try:
        fault = ExportFault.from_json(document)
    except OutcomeError as err:
        return _admin_error(err.field, err.message)
    request.app[STORE_KEY].add_export_fault(fault)
    return json_response(200, {"exportFault": fault.to_json()})


async def _clear_export_faults(request: web.Request) -> web.Response:
    request.app[STORE_KEY].clear_export_faults()
    return web.Response(status=204)


async def _outcomes(request: web.Request) -> web.Response:
    rules = request.app[STORE_KEY].outcomes()
    return json_response(200, {"outcomes": [rule.to_json() for rule in rules]})


# --- admin (control) -------------------------------------------------------------------------


def _admin_error(field: str, message: str, status: int = 400) -> web.Response:
    """A refused admin request, in the API's error shape so one reader handles both."""
    return error_response(status, message, "ADMIN_REQUEST_INVALID", {field: [message]})


async def _admin_body(
    request: web.Request, fields: tuple[str, ...]
) -> dict[str, Any] | web.Response:
    """The admin request's JSON object, or a 400 naming what is wrong (unknown fields too)."""
    raw = await request.read()
    try:
        document = json.loads(raw) if raw.strip() else None
    except ValueError as err:
        return _admin_error("$", f"the body is not JSON: {err}")
    if not isinstance(document, dict):
        return _admin_error("$", f"the body must be a JSON object with {', '.join(fields)}")
    unknown = sorted(set(document) - set(fields))
    if unknown:
        return _admin_error(
            unknown[0], f"unknown field {unknown[0]!r}; the fields are {', '.join(fields)}"
        )
    return document


async def _advance_clock(request: web.Request) -> web.Response:
    body = await _admin_body(request, ("advance",))
    if isinstance(body, web.Response):
        return body
    seconds = body.get("advance")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return _admin_error("advance", f"advance must be a number of seconds, got {seconds!r}")
    try:
        return json_response(200, request.app[STORE_KEY].advance_clock(float(seconds)))
    except ValueError as err:
        return _admin_error("advance", str(err))


async def _add_outcome(request: web.Request) -> web.Response:
    body = await _admin_body(request, OUTCOME_FIELDS)
    if isinstance(body, web.Response):
        return body
    store = request.app[STORE_KEY]
    try:
        rule = OutcomeRule.from_json(body)
        result, run = store.add_outcome(rule)
    except OutcomeError as err:
        return _admin_error(err.field, err.message)
    if result is RuleResult.NOT_FOUND:
        return _run_not_found(body["testRunId"])
    if result is RuleResult.ALREADY_ENDED:
        return error_response(
            409,
            f"Test run {body['testRunId']} has already ended; an ended run never changes.",
            "TEST_RUN_ENDED",
        )
    return json_response(200, {"outcome": rule.to_json(), "run": run})


async def _clear_outcomes(request: web.Request) -> web.Response:
    request.app[STORE_KEY].clear_outcomes()
    return web.Response(status=204)


def _admin_run_id(request: web.Request) -> int | web.Response:
    text = request.match_info["testRunId"]
    test_run_id = parse_int32(text)
    if test_run_id is None:
        return _admin_error("testRunId", f"The value '{text}' is not valid for testRunId.")
    return test_run_id


async def _ui_cancel(request: web.Request) -> web.Response:
    test_run_id = _admin_run_id(request)
    if isinstance(test_run_id, web.Response):
        return test_run_id
    result, status = request.app[STORE_KEY].cancel(None, test_run_id)
    if result is CancelResult.NOT_FOUND:
        return _run_not_found(test_run_id)
    if result is CancelResult.ALREADY_ENDED:
        return error_response(
            409,
            f"Test run {test_run_id} cannot be canceled: its status is {status}.",
            "TEST_RUN_NOT_CANCELABLE",
        )
    return json_response(200, {"testRunId": test_run_id, "status": str(status)})


async def _ui_delete(request: web.Request) -> web.Response:
    test_run_id = _admin_run_id(request)
    if isinstance(test_run_id, web.Response):
        return test_run_id
    if not request.app[STORE_KEY].delete(test_run_id):
        return _run_not_found(test_run_id)
    return web.Response(status=204)


async def _unknown_path(request: web.Request) -> web.StreamResponse:
    if request.path.startswith(INSPECT_PREFIX) and request.method not in ("GET", "HEAD"):
        # A control endpoint asked with the wrong method, or an inspection one written to.
        return web.Response(status=405, headers={"Allow": "GET"})
    return web.Response(status=404)
