"""Defaults users see in --help and docs, in a module light enough for start-up paths."""

#: Where the state lives unless --state, RECONCILER_STATE or reconciler.yaml say otherwise.
DEFAULT_STATE = "state/reconciler.state.json"
#: Spec paths read when no PATH is given and no reconciler.yaml names any.
DEFAULT_SPEC_PATHS = ("specs",)
#: Concurrent API requests of apply and destroy.
DEFAULT_PARALLELISM = 10
#: The only place the API key comes from.
API_KEY_ENV = "SPLX_API_KEY"
#: The name pip installs reconciler by (`reconciler` on PyPI is an unrelated project).
DISTRIBUTION = "splx-reconciler"
#: Runs one matrix may expand to unless reconciler.yaml's maxMatrixRuns says otherwise.
DEFAULT_MAX_MATRIX_RUNS = 1000
