"""What the runs found, as data, and the views made of it.

- ``model``: ``RunResult`` and ``ProbeRunResult`` (recorded in state), status spelling rules;
- ``findings`` and ``baseline``: the failed test cases behind the counts, new / known / fixed;
- ``observation``: what a refresh saw of each tracked run;
- ``gate``, ``summary``, ``links`` and ``views``: verdicts, the rows every view renders, URLs.

Reading results from the API (refresh, wait, findings) is ``reconciler.reading``, a layer
above the API client; this package sits below it (docs/ARCHITECTURE.md, "Layers").
"""
