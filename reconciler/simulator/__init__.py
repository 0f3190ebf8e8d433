"""A strict local HTTP simulator of the SPLX Probe API (aiohttp), for tests, demos and users.

- ``config``:     ``SimulatorConfig`` and ``KeyGrant``: keys, run timing, injected faults
- ``validation``: the request checks of the documented contract (hand-written, fast)
- ``store``:      runs, the request log and the fault dice
- ``app``:        the aiohttp application and its handlers
- ``server``:     ``SimulatorServer`` (background thread, for tests) and ``serve_forever``
- ``cli``:        the ``reconciler simulator`` command

See ``docs/SIMULATOR.md`` for the behaviour it promises and the choices it makes where the
API documentation is silent.
"""

from reconciler.simulator.config import DEMO_KEY, KeyGrant, SimulatorConfig
from reconciler.simulator.server import SimulatorServer, serve_forever
from reconciler.simulator.store import ReceivedRequest, RunStatus

__all__ = [
    "DEMO_KEY",
    "KeyGrant",
    "ReceivedRequest",
    "RunStatus",
    "SimulatorConfig",
    "SimulatorServer",
    "serve_forever",
]
