"""Running the simulator: in a background thread for tests, or in the foreground for the CLI."""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import socket
import struct
import threading
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from reconciler import logs
from reconciler.errors import UsageError
from reconciler.simulator.app import error_response, make_app
from reconciler.simulator.config import FAULT_FIELDS, SimulatorConfig
from reconciler.simulator.export import ExportFault
from reconciler.simulator.outcomes import OutcomeRule
from reconciler.simulator.runs import RunStatus
from reconciler.simulator.store import (
    CancelResult,
    ReceivedRequest,
    RuleResult,
    SimulatorStore,
)
from reconciler.simulator.testcases import RESULTS

#: How long stopping waits for requests still being handled (e.g. sleeping in ``latency``).
SHUTDOWN_TIMEOUT = 0.5


def bind_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (port 0 picks a free one), or a ``UsageError``."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as err:
        raise UsageError(f"simulator: cannot resolve host {host!r}: {err}") from err
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as err:
        sock.close()
        raise UsageError(
            f"simulator: cannot listen on {host}:{port}: {err.strerror or err}; "
            "choose another --port (0 picks a free one)"
        ) from err
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


#: Where the simulator says what it refused; a line each, never a traceback.
log = logs.logger("reconciler.simulator")


def _summary(exc: BaseException) -> str:
    """The first line of what went wrong, without the bytes it quotes: a malformed request
    may carry a key in the very line aiohttp would show, and a log never holds one."""
    cause = exc.__cause__ if isinstance(exc, RequestPayloadError) else None
    if isinstance(cause, HttpProcessingError):
        exc = cause
    text = str(exc.message) if isinstance(exc, HttpProcessingError) else str(exc)
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    first = _QUOTED_BYTES.sub("", first).rstrip(": .")
    return (first or type(exc).__name__)[:200]


#: A ``b'...'`` excerpt of the request and everything after it.
_QUOTED_BYTES = re.compile(r"""[:\s]*\bb['"].*$""")


class _RequestErrorLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """aiohttp's server log, with a malformed request (bad request line, headers, chunking,
    content length; a port scanner's or a fuzzer's bytes) told in one line instead of a
    traceback. aiohttp has already answered it with a 400. Anything else, a fault of the
    simulator itself, keeps its traceback."""

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info")
        if isinstance(exc, RequestPayloadError):
            # The rest of a body the middleware below has already refused (and logged),
            # read by aiohttp before it closes the connection.
            super().log(logging.DEBUG, "%s: %s", msg, _summary(exc))
            return
        if isinstance(exc, HttpProcessingError | ConnectionResetError):
            remote = args[0] if args else "?"
            log.warning("simulator: refused a malformed request from %s: %s", remote, _summary(exc))
            return
        super().log(level, msg, *args, **kwargs)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _unreadable_body(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A body that cannot be read (broken chunking or compression after the headers, a
    client gone mid-body) is a 400 and one log line, not aiohttp's 500 and two tracebacks."""
    try:
        return await handler(request)
    except (RequestPayloadError, HttpProcessingError, ConnectionResetError) as exc:
        log.warning(
            "simulator: refused a request from %s whose body cannot be read: %s",
            request.remote,
            _summary(exc),
        )
        return error_response(
            400, f"The request body cannot be read: {_summary(exc)}.", "BAD_REQUEST"
        )


class _Door:
    """While closed, API requests wait inside the simulator until it opens (``hold``).

    For tests that need a request in flight for exactly as long as they need it (an
    interrupt, a kill) rather than for a latency they hope is long enough.
    """

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.open.set()
        #: (path, body) of every request that waited, in arrival order.
        self.held: list[tuple[str, bytes]] = []


DOOR_KEY = web.AppKey("door", _Door)


@web.middleware
async def _door(request: web.Request, handler: Handler) -> web.StreamResponse:
    door = request.app[DOOR_KEY]
    if not door.open.is_set() and request.path.startswith("/api/"):
        try:
            body = await request.read()  # kept by aiohttp: the handler reads it again
        except web.HTTPRequestEntityTooLarge:
            body = b""
        door.held.append((request.path, body))
        await door.open.wait()
    return await handler(request)


def _application(store: SimulatorStore, door: _Door) -> web.Application:
    app = make_app(store)
    app[DOOR_KEY] = door
    app.middlewares.extend([_unreadable_body, _door])
    return app


async def _start_site(
    store: SimulatorStore, sock: socket.socket, door: _Door | None = None
) -> web.AppRunner:
    # No access log: formatting a line per request would cost more than handling it.
    runner = web.AppRunner(
        _application(store, door or _Door()),
        access_log=None,
        handle_signals=False,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
        logger=_RequestErrorLog(logging.getLogger("aiohttp.server"), {}),
    )
    await runner.setup()
    await web.SockSite(runner, sock).start()
    return runner


class SimulatorServer:
    """The simulator on loopback, served from a background thread with its own event loop.

    For tests and demos in the same process::

        with SimulatorServer(SimulatorConfig(finish_after=2)) as sim:
            httpx.post(f"{sim.url}/api/workspaces/1/test-run/trigger", ...)
            assert sim.trigger_count() == 1

    ``runs()``, ``requests()`` and ``trigger_count()`` read what the server has seen;
    ``set_faults()`` / ``reconfigure()`` change its behaviour for the requests that follow.
    """

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = SimulatorStore(config or SimulatorConfig(), clock=clock)
        self._host = host
        self._port = port
        self._url: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._door = _Door()
        self._runner: web.AppRunner | None = None
        self._sock: socket.socket | None = None

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:41234``; only once started."""
        if self._url is None:
            raise RuntimeError("the simulator is not started")
        return self._url

    def start(self) -> SimulatorServer:
        if self._thread is not None:
            raise RuntimeError("the simulator is already started")
        sock = bind_socket(self._host, self._port)
        self._url = url_of(sock)
        loop = asyncio.new_event_loop()
        started = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            asyncio.set_event_loop(loop)
            runner: web.AppRunner | None = None
            try:
                runner = loop.run_until_complete(_start_site(self._store, sock, self._door))
                self._runner = runner
            except BaseException as err:  # reported to start()'s caller below
                failure.append(err)
                sock.close()
            started.set()
            if runner is not None:
                loop.run_forever()
                loop.run_until_complete(runner.cleanup())
            _close_loop(loop)

        self._loop = loop
        self._sock = sock
        self._thread = threading.Thread(target=serve, name="probe-api-simulator", daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            self._thread.join()
            self._thread = self._loop = None
            raise failure[0]
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread to end. Safe to call twice."""
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._thread = self._loop = None
        self._runner = self._sock = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- control ---------------------------------------------------------------------------

    @property
    def config(self) -> SimulatorConfig:
        return self._store.config

    def reconfigure(self, **changes: Any) -> None:
        """Change any config field for the requests that follow (runs and log are kept)."""
        self._store.reconfigure(self._store.config.replace(**changes))

    def set_faults(self, **faults: Any) -> None:
        """Change only fault settings: ``latency``, ``error_rate``, ``rate_limit_rate``,
        ``retry_after``, ``drop_after_trigger_rate``, ``error_after_trigger_rate``."""
        unknown = faults.keys() - FAULT_FIELDS
        if unknown:
            raise TypeError(f"not fault settings: {', '.join(sorted(unknown))}")
        self.reconfigure(**faults)

    def clear(self) -> None:
        """Forget runs, requests and added outcome rules; ids and fault dice restart."""
        self._store.clear()

    def advance_clock(self, seconds: float) -> None:
        """Move the simulated clock ahead (as ``POST /_simulator/clock {"advance": s}``)."""
        self._store.advance_clock(seconds)

    def set_outcome(self, **rule: Any) -> dict[str, Any] | None:
        """Add an outcome rule (``OutcomeRule`` fields: ``name`` glob or ``test_run_id``,
        ``status``, ``failed``, ``errored``, ``finish_after``); as ``POST /_simulator/outcomes``.

        Returns the run as ``runs()`` shows it for a rule by id, None for a rule by name.
        Raises ``OutcomeError`` for a bad rule, ``LookupError`` for an unknown or ended run.
        """
        result, run = self._store.add_outcome(OutcomeRule(**rule))
        if result is not RuleResult.APPLIED:
            raise LookupError(f"run {rule.get('test_run_id')}: {result.value}")
        return run

    def clear_outcomes(self) -> None:
        self._store.clear_outcomes()

    def set_export_fault(self, kind: str, **selection: Any) -> None:
        """Make the export answer badly (as ``POST /_simulator/export-faults``): ``kind`` one of
        ``html``, ``not-json``, ``no-list``, ``no-attack``, ``duplicates``, ``status`` (with
        ``status=429``...), ``delay`` (with ``seconds=``); for runs selected by ``name`` (a glob)
        or ``test_run_id``, else all; ``times=N`` for the next N exports only. The latest
        matching fault wins. Raises ``OutcomeError`` for a bad fault."""
        self._store.add_export_fault(ExportFault(kind=kind, **selection))

    def clear_export_faults(self) -> None:
        self._store.clear_export_faults()

    def export_faults(self) -> list[dict[str, Any]]:
        """The export faults in force, as ``GET /_simulator/export-faults`` lists them."""
        return self._store.export_faults()

    def cancel_from_ui(self, test_run_id: int) -> CancelResult:
        """Cancel a run as someone in the web UI would (no key, any workspace)."""
        return self._store.cancel(None, test_run_id)[0]

    def delete_run(self, test_run_id: int) -> bool:
        """Forget a run so that its status answers 404; False when there was none."""
        return self._store.delete(test_run_id)

    def hold(self) -> None:
        """API requests that arrive from now on wait inside the simulator, before any check,
        until ``release()``; ``held()`` lists them. A client's request stays in flight for
        exactly as long as a test needs (to interrupt or kill the client meanwhile)."""
        self._in_loop(self._door.open.clear)

    def release(self) -> None:
        """Let the held requests (and those that follow) through."""
        self._in_loop(self._door.open.set)

    def held(self) -> list[tuple[str, bytes]]:
        """(path, body) of each request that waited at ``hold()``, in arrival order."""
        return list(self._door.held)

    def idle(self) -> bool:
        """No connection is open or waiting to be accepted, and no request is being handled.

        aiohttp keeps a connection in its list until the handler of its last request has
        finished, so once a client is gone (killed) and this is true, everything it sent has
        been received and answered: nothing it did can still change the runs.
        """
        if self._loop is None or self._runner is None or self._sock is None:
            raise RuntimeError("the simulator is not started")
        server = self._runner.server
        assert server is not None

        async def open_connections() -> int:
            return len(server.connections)

        future = asyncio.run_coroutine_threadsafe(open_connections(), self._loop)
        return future.result(timeout=60) == 0 and _accept_backlog(self._sock) == 0

    def _in_loop(self, action: Callable[[], None]) -> None:
        if self._loop is None:
            raise RuntimeError("the simulator is not started")
        done = threading.Event()

        def run() -> None:
            action()
            done.set()

        self._loop.call_soon_threadsafe(run)
        done.wait(60)

    # --- inspection ------------------------------------------------------------------------

    def runs(self) -> list[dict[str, Any]]:
        """Every run triggered, as ``GET /_simulator/runs`` shows them."""
        return self._store.runs()

    def requests(self) -> list[ReceivedRequest]:
        """Every API request received (latest ``request_log_limit``), oldest first."""
        return self._store.requests()

    def trigger_count(self) -> int:
        """Runs created, including those whose answer was dropped or replaced by a 500."""
        return self._store.trigger_count()

    def run_status(self, test_run_id: int) -> RunStatus | None:
        return self._store.run_status(test_run_id)

    def test_cases(
        self, test_run_id: int, result: str | None = None
    ) -> dict[int, list[dict[str, Any]]] | None:
        """Every test case of the run now (only ``result`` ones if given), by probe run id: what
        the export answers, unfiltered and without faults; None for an unknown run."""
        probe_runs = self._store.run_cases(test_run_id)
        if probe_runs is None:
            return None
        results = RESULTS if result is None else (result,)
        return {cases.probe_run_id: cases.test_cases(results) for cases in probe_runs}

    def status_document(self, test_run_id: int) -> dict[str, Any] | None:
        """What ``GET /api/v2/test-run/{id}/status`` answers now; None for an unknown run."""
        view = self._store.view(test_run_id)
        return None if view is None else view.document


def _accept_backlog(sock: socket.socket) -> int:
    """Connections the kernel has accepted for ``sock`` that the server has not taken yet:
    Linux reports a listening socket's accept queue as ``tcpi_unacked`` (0 elsewhere)."""
    tcp_info = getattr(socket, "TCP_INFO", None)
    if tcp_info is None:
        return 0
    info = sock.getsockopt(socket.IPPROTO_TCP, tcp_info, 104)
    return int(struct.unpack_from("I", info, 24)[0]) if len(info) >= 28 else 0


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


def serve_forever(
    host: str,
    port: int,
    config: SimulatorConfig,
    *,
    on_ready: Callable[[str], None] = lambda url: None,
) -> None:
    """Serve in the foreground until SIGTERM or SIGINT; ``on_ready(url)`` once listening."""
    sock = bind_socket(host, port)
    asyncio.run(_serve_until_signal(SimulatorStore(config), sock, on_ready))


async def _serve_until_signal(
    store: SimulatorStore, sock: socket.socket, on_ready: Callable[[str], None]
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runner = await _start_site(store, sock)
    try:
        on_ready(url_of(sock))
        await stop.wait()
    finally:
        await runner.cleanup()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
