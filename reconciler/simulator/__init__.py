"""A strict local HTTP simulator of the SPLX Probe API (aiohttp), for tests, demos and users.

- ``config``:     ``SimulatorConfig`` and ``KeyGrant``: keys, run timing, clock pace, faults
- ``outcomes``:   ``OutcomeRule``: what runs end as, from the admin API or ``--outcome``
- ``pdf``:        the one-page PDF of a run's report, written by hand
- ``validation``: the request checks of the documented contract (hand-written, fast)
- ``catalogue``:  the attacks of each probe and which of them a probe run's test cases are
- ``testcases``:  a probe run's test cases as the export answers them
- ``export``:     the export's filters, answer shapes and faults (``ExportFault``)
- ``answers``:    error answers and the bad answers of export faults
- ``store``:      runs and their results, the simulated clock, the request log, the fault dice
- ``app``:        the aiohttp application and its handlers
- ``server``:     ``SimulatorServer`` (background thread, for tests) and ``serve_forever``
- ``cli``:        the ``reconciler simulator`` command

See ``docs/SIMULATOR.md`` for the behaviour it promises and the choices it makes where the
API documentation is silent.
"""

# Nothing is imported here: ``reconciler simulator`` is registered with the main CLI at
# start-up, and importing aiohttp then would slow every command. Import from the submodules.
