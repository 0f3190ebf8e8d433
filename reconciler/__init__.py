"""reconciler: SPLX Probe test runs as code.

Layout (one module per responsibility):

- ``spec/``      reading YAML spec files into the desired set of runs
- ``records``    the normalised run record shared by specs, state and plans
- ``state/``     state documents, the journal, and the storage backends behind ``StateStore``
- ``plan/``      diffing desired against state, safety rails, and plan renderers
- ``api/``       the HTTP client of the SPLX Probe API
- ``apply``      executing a plan against the API and recording each outcome
- ``simulator/`` a strict local HTTP simulator of the Probe API
- ``cli``        the click commands; the only layer that prints
"""

__version__ = "0.1.0"
