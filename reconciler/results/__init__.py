"""What the runs found: the result model, reading it from the API, and what is made of it.

- ``model``: ``RunResult`` and ``ProbeRunResult`` (recorded in state), status spelling rules;
- ``refresh``: which tracked runs to read, reading them in parallel, the journal records of
  what was learned;
- ``links``: the platform URL of a run.

Gates, waiting and the views (text, JSON, JUnit, Markdown, HTML) build on these.
"""
