"""reconciler: SPLX Probe test runs as code.

Layout (one module per responsibility; docs/ARCHITECTURE.md has the full table):

- ``spec/``      reading YAML spec files into the desired set of runs
- ``config``     the optional project config, ``reconciler.yaml``
- ``records``    the normalised run record shared by specs, state and plans
- ``state/``     state documents, the journal, and the storage backends behind ``StateStore``
- ``plan/``      diffing desired against state, safety rails, saved plans and renderers
- ``api/``       the HTTP client of the SPLX Probe API
- ``apply``      executing a plan against the API and recording each outcome
- ``simulator/`` a strict local HTTP simulator of the Probe API
- ``errors``     the one exception tree users see
- ``cli``, ``commands/``, ``ui``: the command line; the only layer that prints
- ``defaults``, ``limits``, ``files``: small shared constants and helpers
"""

__version__ = "0.1.0"
